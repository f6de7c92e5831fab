"""C2PA provenance end to end on files signed in the test with a test CA, and on
the reference samples in ../shared/c2pa."""

from __future__ import annotations

import json

import pytest

from synthcheck import AnalysisOptions, analyze, testkit
from synthcheck.analyzers.c2pa_provenance import TRUSTED_EKUS
from synthcheck.pipeline import Scanner

from .conftest import codes, evidence, shared_or_skip


def test_ai_manifest_untrusted_without_anchor(test_ca, photo_jpeg):
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "trainedAlgorithmicMedia")
    report = analyze(signed)
    prov = report.provenance
    assert prov.state == "valid"
    assert prov.failure_codes == ["signingCredential.untrusted"]
    assert prov.digital_source_types == ["trainedAlgorithmicMedia"]
    assert prov.claim_generator == "synthcheck-testkit"
    assert prov.common_name == "synthcheck test signer"
    assert prov.actions[0]["action"] == "c2pa.created"
    assert {"c2pa_valid_untrusted", "c2pa_ai_generated"} <= codes(report)
    # a valid declaration of AI generation dominates: `high` whatever the pixel classifier says,
    # and near-certain on the provenance and metadata evidence alone
    assert report.risk.level == "high"
    without_classifier = Scanner(AnalysisOptions(classifier=None)).analyze(signed)
    assert without_classifier.risk.level == "high" and without_classifier.risk.score > 0.99


def test_trusted_with_anchor(test_ca, photo_jpeg, anchors_file):
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "trainedAlgorithmicMedia")
    report = Scanner(AnalysisOptions(trust_anchors=anchors_file)).analyze(signed)
    assert report.provenance.state == "trusted"
    assert report.provenance.failure_codes == []
    assert "c2pa_trusted" in codes(report)


def test_other_ca_is_not_trusted(photo_jpeg, anchors_file):
    stranger = testkit.make_test_ca("stranger")
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", stranger, "digitalCapture")
    report = Scanner(AnalysisOptions(trust_anchors=anchors_file)).analyze(signed)
    assert report.provenance.state != "trusted"


def test_pixels_tampered_after_signing(test_ca, photo_jpeg):
    signed = bytearray(testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "digitalCapture"))
    # flip bytes inside the entropy-coded scan data, well before the EOI marker
    for offset in range(len(signed) - 2000, len(signed) - 1900):
        if signed[offset] not in (0xFF, 0x00) and signed[offset + 1] != 0xFF:
            signed[offset] ^= 0x01
    report = analyze(bytes(signed))
    assert report.provenance.state == "invalid"
    assert "assertion.dataHash.mismatch" in report.provenance.failure_codes
    item = evidence(report, "c2pa_invalid")
    assert item.weight > 2 and "changed after it was signed" in item.message
    # a broken manifest's camera claim does not count for the image
    assert "c2pa_camera_capture" not in codes(report)
    assert report.risk.level in ("medium", "high")


def test_manifest_stripped_reads_as_none(test_ca, photo_jpeg):
    import io

    from PIL import Image

    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "trainedAlgorithmicMedia")
    reencoded = testkit.encode(Image.open(io.BytesIO(signed)), "JPEG", quality=90)
    report = analyze(reencoded)
    assert report.provenance.state == "none"
    assert "c2pa_absent" in codes(report)
    assert report.error is None


def test_trusted_camera_capture_lowers_risk_and_conflict_is_stated(test_ca, photo_jpeg, anchors_file):
    import io

    from PIL import Image, PngImagePlugin

    scanner = Scanner(AnalysisOptions(trust_anchors=anchors_file))
    camera = scanner.analyze(testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "digitalCapture"))
    assert camera.provenance.state == "trusted"
    assert evidence(camera, "c2pa_camera_capture").weight < 0
    assert camera.risk.level == "low"

    # signed as a camera capture, but the PNG carries a generator's settings
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, "
                  "Size: 640x480, Model: sdxl")
    png = testkit.encode(Image.open(io.BytesIO(photo_jpeg)), "PNG", pnginfo=info)
    signed_png = testkit.sign_image(png, "image/png", test_ca, "digitalCapture", "x.png")
    report = scanner.analyze(signed_png)
    assert report.provenance.state == "trusted"
    assert "Conflict:" in report.risk.summary and "camera capture" in report.risk.summary


def test_ai_edit_in_webp_and_png(test_ca):
    for fmt, mime in (("WEBP", "image/webp"), ("PNG", "image/png")):
        data = testkit.encode(testkit.photo_like(300, 300, seed=3), fmt)
        signed = testkit.sign_image(data, mime, test_ca, "compositeWithTrainedAlgorithmicMedia", "x")
        report = analyze(signed)
        assert report.media_type == mime
        assert report.provenance.digital_source_types == ["compositeWithTrainedAlgorithmicMedia"]
        assert "c2pa_ai_edited" in codes(report)


def _expected() -> dict:
    path = shared_or_skip("c2pa", "expected.json")
    return json.loads(path.read_text())["files"]


def _names() -> list[str]:
    from .conftest import SHARED

    path = SHARED / "c2pa" / "expected.json"
    return sorted(json.loads(path.read_text())["files"]) if path.exists() else ["<shared absent>"]


# The anchor sets of the done-when: the official list alone, and official + interim (the
# default); with no list at all the shared expected.json (no anchors) is the reference.
ANCHOR_SETS = {"official": {"interim_trust": False}, "official+interim": {}, "none": {"builtin_trust": False}}


def _reference(path, options: AnalysisOptions) -> dict | None:
    """c2pa-python's own validation of `path` with the same anchors, outside synthcheck."""
    import c2pa

    settings = {"verify": {"remote_manifest_fetch": False}}
    if options.trust_lists:
        settings["trust"] = {"trust_anchors": "".join(lst.pem for lst in options.trust_lists),
                             "trust_config": TRUSTED_EKUS}
    mime = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif",
            "heic": "image/heic"}[path.suffix.lstrip(".")]
    try:
        with open(path, "rb") as f:
            reader = c2pa.Reader.try_create(mime, f, None, c2pa.Context.from_dict(settings))
            if reader is None:
                return None
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return {"error": str(exc)}
    failures = (store.get("validation_results") or {}).get("activeManifest", {}).get("failure") or []
    return {"state": store["validation_state"].lower(), "failure_codes": sorted({f["code"] for f in failures})}


@pytest.mark.shared
@pytest.mark.parametrize("anchors", sorted(ANCHOR_SETS))
@pytest.mark.parametrize("name", _names())
def test_agrees_with_reference_reader(name, anchors):
    expected = _expected()[name]
    path = shared_or_skip("c2pa", name)
    options = AnalysisOptions(watermarks=False, classifier=None, faces=False, **ANCHOR_SETS[anchors])
    report = analyze(path, options=options)
    prov = report.provenance
    reference = _reference(path, options)
    if reference is None or "error" in reference:
        # "no JUMBF data" is the outcome "no manifest"; any other reader error is "unreadable"
        assert expected["state"] == "error"
        want = "none" if reference is None or "ManifestNotFound" in expected["error"] else "unreadable"
        assert prov.state == want
        if "Remote" in expected["error"]:
            assert prov.remote_manifest_url and prov.remote_manifest_url.startswith("https://")
            assert "c2pa_remote_manifest" in codes(report)
        return
    assert (prov.state, prov.failure_codes) == (reference["state"], reference["failure_codes"])
    if anchors == "none":  # the shared reference run had no anchors
        assert prov.state == expected["state"].lower()
        assert prov.failure_codes == sorted(expected["failure_codes"])
    assert prov.digital_source_types == expected["digital_source_types"]
    assert (prov.claim_generator or "") == expected["claim_generator"]
    assert prov.issuer == expected["issuer"]
    assert prov.manifest_count == expected["manifests"]
    assert all(f["message"] for f in prov.failures)  # every failure explained in words
    assert prov.trust["lists_checked"] == [lst.key for lst in options.trust_lists]
    assert (prov.trust["list"] is None) == (prov.state != "trusted")


@pytest.mark.shared
def test_photoshop_export_reads_trusted_through_the_interim_tier_and_says_so():
    path = shared_or_skip("c2pa", "ocsp.jpg")
    quiet = {"watermarks": False, "classifier": None, "faces": False}
    report = analyze(path, options=AnalysisOptions(**quiet))
    assert report.provenance.state == "trusted"
    assert report.provenance.trust["list"] == "interim"
    assert report.provenance.trust["list_version"] == "frozen 2026-01-01"
    item = evidence(report, "c2pa_trusted")
    assert "frozen interim trust list, not the official C2PA Trust List" in item.message
    assert "interim" in report.risk.summary or "AI-edited" in report.risk.summary
    # the official list alone does not trust it; the interim tier can be turned off
    official = analyze(path, options=AnalysisOptions(interim_trust=False, **quiet)).provenance
    assert official.state == "valid" and official.trust["list"] is None
    assert official.failure_codes == ["signingCredential.untrusted"]


@pytest.mark.shared
def test_photoshop_generative_fill_is_ai_edited():
    report = analyze(shared_or_skip("c2pa", "ocsp.jpg"))
    assert "c2pa_ai_edited" in codes(report)
    assert report.provenance.ingredients and report.provenance.issuer == "Adobe Inc."
    assert report.risk.level == "high"


@pytest.mark.shared
def test_manifest_thumbnail_reported_and_embedded_on_request():
    import base64
    import io

    from PIL import Image

    path = shared_or_skip("c2pa", "CA.jpg")
    plain = analyze(path, options=AnalysisOptions(watermarks=False, classifier=None)).provenance.thumbnail
    assert plain["format"] == "image/jpeg" and plain["size_bytes"] > 1000 and "data_base64" not in plain
    embedded = analyze(path, options=AnalysisOptions(watermarks=False, classifier=None, thumbnails=True))
    data = base64.b64decode(embedded.provenance.thumbnail["data_base64"])
    assert len(data) == plain["size_bytes"]
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert embedded.to_dict()["provenance"]["thumbnail"]["size_bytes"] == plain["size_bytes"]
    # each ingredient's thumbnail the same way (what the signer saw of it; the page shows it)
    ingredient = analyze(path, options=AnalysisOptions(watermarks=False, classifier=None)).provenance.ingredients[0]
    assert ingredient["thumbnail"]["size_bytes"] > 1000 and "data_base64" not in ingredient["thumbnail"]
    shown = embedded.provenance.ingredients[0]["thumbnail"]
    assert Image.open(io.BytesIO(base64.b64decode(shown["data_base64"]))).format == "JPEG"


# Issue 30: a remote manifest is recognised by c2pa's error type where c2pa raises it, and by
# the message where the installed version does not (c2pa-python 0.38.1).
def _provenance_when_reading_raises(monkeypatch, error: Exception):
    from synthcheck.analyzers.c2pa_provenance import C2paAnalyzer

    def raising(self, image, context):
        raise error

    monkeypatch.setattr(C2paAnalyzer, "read_store", raising)
    options = AnalysisOptions(watermarks=False, classifier=None, faces=False)
    return Scanner(options).analyze(testkit.encode(testkit.photo_like(64, 64), "JPEG"), "default").provenance


def test_a_typed_remote_manifest_error_is_recognised_by_its_type(monkeypatch):
    import c2pa

    # no "remote manifest" in the words: only the type says what it is
    prov = _provenance_when_reading_raises(monkeypatch, c2pa.C2paError.RemoteManifest("RemoteManifest: not fetched"))
    assert prov.state == "unreadable" and prov.failure_codes == ["manifest.remote"]
    assert prov.remote_manifest_url is None
    prov = _provenance_when_reading_raises(monkeypatch, c2pa.C2paError.RemoteManifest(
        "RemoteManifest: must fetch remote manifests from url https://example.org/m.c2pa"))
    assert prov.failure_codes == ["manifest.remote"] and prov.remote_manifest_url == "https://example.org/m.c2pa"


def test_the_untyped_remote_manifest_error_of_c2pa_0_38_is_still_recognised(monkeypatch):
    import c2pa

    prov = _provenance_when_reading_raises(monkeypatch, c2pa.C2paError(
        "Remote: must fetch remote manifests from url https://example.org/m.c2pa"))
    assert prov.failure_codes == ["manifest.remote"] and prov.remote_manifest_url == "https://example.org/m.c2pa"
    prov = _provenance_when_reading_raises(monkeypatch, c2pa.C2paError.Decoding("Decoding: bad CBOR"))
    assert prov.state == "unreadable" and prov.failure_codes == ["manifest.unreadable"]
    assert prov.remote_manifest_url is None


@pytest.mark.shared
def test_installed_c2pa_raises_an_untyped_error_for_a_remote_manifest():
    """Why is_remote_manifest keeps its message fallback: c2pa-python 0.38.1 maps only the
    native prefix "RemoteManifest" to C2paError.RemoteManifest, and the native library says
    "Remote: ...". When this fails, c2pa raises the typed error: drop the fallback."""
    import io

    import c2pa

    from synthcheck.analyzers.c2pa_provenance import is_remote_manifest

    context = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    data = shared_or_skip("c2pa", "cloud.jpg").read_bytes()
    with pytest.raises(c2pa.C2paError) as raised:
        c2pa.Reader.try_create("image/jpeg", io.BytesIO(data), None, context)
    assert is_remote_manifest(raised.value)
    assert type(raised.value) is c2pa.C2paError and str(raised.value).startswith("Remote: ")
