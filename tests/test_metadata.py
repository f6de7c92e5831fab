"""Metadata and generator-settings signals, each on a real file written in the test."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image, PngImagePlugin

from synthcheck import analyze, testkit
from synthcheck.analyzers.generator_text import parse_a1111

from .conftest import EXAMPLES, codes, evidence

A1111 = ("masterpiece, a red fox in snow\nNegative prompt: lowres, bad anatomy\n"
         'Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3141592, Size: 832x1216, '
         'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "a: 1, b: 2", Version: v1.9.4')


def png_with_text(**chunks: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return testkit.encode(testkit.photo_like(320, 240, seed=5), "PNG", pnginfo=info)


def test_a1111_parameters_parsed():
    parsed = parse_a1111(A1111)
    assert parsed["prompt"] == "masterpiece, a red fox in snow"
    assert parsed["negative_prompt"].strip() == "lowres, bad anatomy"
    assert (parsed["seed"], parsed["model"], parsed["steps"]) == ("3141592", "sd_xl_base_1.0", "28")
    assert parsed["sampler"] == "DPM++ 2M Karras" and parsed["size"] == "832x1216"
    assert parse_a1111("just a caption, Steps: none") is None


def test_a1111_png_chunk_is_strong_evidence():
    report = analyze(png_with_text(parameters=A1111))
    item = evidence(report, "generator_parameters")
    assert item.weight >= 5 and item.details["ui"].startswith("Stable Diffusion WebUI")
    assert item.details["seed"] == "3141592" and "sd_xl_base_1.0" in item.message
    assert report.risk.level == "high"


def test_a1111_in_jpeg_exif_usercomment():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    jpeg = testkit.encode(testkit.photo_like(320, 240), "JPEG", exif=exif)
    item = evidence(analyze(jpeg), "generator_parameters")
    assert item.details["where"] == "EXIF UserComment" and item.details["model"] == "sd_xl_base_1.0"


COMFY_PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev-fp8.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a passport photo of a man", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 987654, "steps": 20, "model": ["4", 0]}},
}
COMFY_WORKFLOW = {"nodes": [{"id": 4, "type": "LoraLoader", "widgets_values": ["skin_detail.safetensors", 1, 1]}]}


def test_comfyui_png_chunks():
    report = analyze(png_with_text(prompt=json.dumps(COMFY_PROMPT), workflow=json.dumps(COMFY_WORKFLOW)))
    item = evidence(report, "generator_parameters")
    assert item.details["ui"] == "ComfyUI"
    assert set(item.details["models"]) == {"flux1-dev-fp8.safetensors", "skin_detail.safetensors"}
    assert item.details["seed"] == 987654 and item.details["prompt"] == "a passport photo of a man"


def test_comfyui_workflow_hidden_in_webp_exif():
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps(COMFY_WORKFLOW)
    exif[0x0110] = "prompt:" + json.dumps(COMFY_PROMPT)
    webp = testkit.encode(testkit.photo_like(320, 240), "WEBP", exif=exif.tobytes())
    report = analyze(webp)
    item = evidence(report, "generator_parameters")
    assert item.details["ui"] == "ComfyUI" and "flux1-dev-fp8.safetensors" in item.details["models"]
    assert "camera_exif" not in codes(report)  # Make/Model here are not a camera


def test_invokeai_novelai_fooocus():
    invoke = {"model": {"name": "juggernautXL"}, "positive_prompt": "a dog", "seed": 7}
    item = evidence(analyze(png_with_text(invokeai_metadata=json.dumps(invoke))), "generator_parameters")
    assert (item.details["ui"], item.details["model"], item.details["seed"]) == ("InvokeAI", "juggernautXL", 7)

    nai = analyze(png_with_text(Software="NovelAI", Source="NovelAI Diffusion V4 4F6A8B",
                                Comment=json.dumps({"prompt": "1girl", "seed": 99})))
    item = evidence(nai, "generator_parameters")
    assert item.details["ui"] == "NovelAI" and item.details["seed"] == 99

    fooocus = {"prompt": "a castle", "base_model": "juggernautXL_v8", "seed": "123", "version": "Fooocus v2.5.0"}
    item = evidence(analyze(png_with_text(parameters=json.dumps(fooocus), fooocus_scheme="fooocus")),
                    "generator_parameters")
    assert item.details["ui"] == "Fooocus" and item.details["model"] == "juggernautXL_v8"


def test_camera_exif_is_weak_evidence_against():
    report = analyze((EXAMPLES / "camera_exif.jpg").read_bytes())
    item = evidence(report, "camera_exif")
    assert -1.5 <= item.weight < 0 and "Canon" in item.message
    assert report.metadata["exif"]["model"] == "Canon EOS 80D"
    assert report.metadata["exif"]["iso"] == 200
    assert report.risk.level == "low"


def test_missing_exif_is_weak_evidence_at_most():
    # the classifier is off: this checks what missing metadata alone does to the score
    from synthcheck import AnalysisOptions
    from synthcheck.pipeline import Scanner

    report = Scanner(AnalysisOptions(classifier=None)).analyze(
        testkit.encode(testkit.photo_like(333, 222), "JPEG", quality=90))
    assert 0 < evidence(report, "no_camera_metadata").weight <= 0.5
    assert report.risk.level == "low"


XMP = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dcterms="http://purl.org/dc/terms/"
 Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
 xmp:CreatorTool="Google Gemini" dcterms:provenance="self#jumbf=/c2pa/xyz"/>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def test_xmp_digital_source_type_and_creator_tool():
    jpeg = testkit.encode(testkit.photo_like(320, 240), "JPEG", xmp=XMP.encode())
    report = analyze(jpeg)
    assert report.metadata["xmp"]["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert evidence(report, "iptc_ai_source_type").weight >= 3
    assert "Gemini" in evidence(report, "ai_tool_named").message
    assert "xmp_provenance_reference" in codes(report)
    assert report.risk.level == "high"


def test_iptc_credit_and_icc_profile():
    from PIL import ImageCms

    # IPTC IIM record 2: dataset 110 (Credit) = "Made with Google AI"
    credit = b"Made with Google AI"
    iim = b"\x1c\x02\x6e" + len(credit).to_bytes(2, "big") + credit
    resource = b"8BIM\x04\x04\x00\x00" + len(iim).to_bytes(4, "big") + iim
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    base = testkit.encode(testkit.photo_like(320, 240), "JPEG", icc_profile=icc)
    app13 = b"Photoshop 3.0\x00" + resource
    jpeg = base[:2] + b"\xff\xed" + (len(app13) + 2).to_bytes(2, "big") + app13 + base[2:]
    report = analyze(jpeg)
    assert report.metadata["iptc"]["credit"] == "Made with Google AI"
    assert "ai_tool_named" in codes(report)
    assert report.metadata["icc_profile"] and "icc_profile" in codes(report)


def test_embedded_thumbnail_and_gps_reported():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 15"
    exif.get_ifd(0x8825)[1] = "N"
    jpeg = testkit.encode(testkit.photo_like(320, 240), "JPEG", exif=exif)
    report = analyze(jpeg)
    assert report.metadata["exif"]["gps_present"] is True
    assert "gps_present" in evidence(report, "camera_exif").details["fields"]



def test_an_icc_profile_is_said_for_what_it_is():
    """Issue 29, item 8: "ICC colour profile: c2." meant nothing; the sentence says what the
    profile is (its name, what kind of profile) and that it names no camera or generator."""
    jpeg = testkit.encode(testkit.photo_like(320, 240), "JPEG", icc_profile=testkit.icc_profile_named("c2"))
    report = analyze(jpeg)
    assert report.metadata["icc_profile"] == "c2"  # the contract's field is unchanged: the description
    item = evidence(report, "icc_profile")
    assert "ICC colour profile: c2." not in item.message
    assert "an ICC colour profile named 'c2'" in item.message and "display" in item.message
    assert "names no camera or generator" in item.message and item.weight == 0
    assert item.details["description"] == "c2" and item.details["device_class"] == "display"


def test_reading_metadata_does_not_load_c2pa():
    """Issue 30: the digital source type vocabulary lives in synthcheck.source_types, and the
    analyzers package imports its modules on first use, so metadata alone loads no c2pa."""
    probe = ("import sys\nimport synthcheck.analyzers.metadata\n"
             "print('C2PA', [m for m in sys.modules if m == 'c2pa' "
             "or m.startswith(('c2pa.', 'synthcheck.analyzers.c2pa'))])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "C2PA []" in done.stdout, done.stdout[-500:]


def test_the_analyzers_are_still_listed_in_their_order():
    from synthcheck.analyzers import ANALYZER_TYPES, analyzer_types, list_analyzers

    assert ANALYZER_TYPES == analyzer_types()
    assert list_analyzers() == ["c2pa", "metadata", "generator_text", "jpeg_quant", "watermark", "dimensions",
                                "classifier", "faces"]
