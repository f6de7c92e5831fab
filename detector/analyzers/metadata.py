"""Camera and editing metadata: EXIF, XMP, IPTC IIM, ICC profile, embedded thumbnail.

Metadata is cheap to forge and routinely stripped by platforms, so it is weighted
modestly, except where a file declares AI generation about itself (IPTC
DigitalSourceType, a generator named as the creating software)."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import ExifTags, Image, ImageFile, IptcImagePlugin

from ..image_input import ImageInput
from ..report import Evidence
from ..source_types import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, short_source_type
from .base import AnalyzerBase, Findings

SOURCE = "metadata"

AI_TOOL_PATTERN = re.compile(
    r"midjourney|dall[\s\-·]?e|stable[\s\-]?diffusion|\bsdxl\b|novelai|comfyui|automatic1111|"
    r"invokeai|fooocus|firefly|\bimagen\b|gemini|nano[\s\-]?banana|gpt[\s\-]?image|chatgpt|openai|"
    r"\bflux(\.1|\.2|\b)|leonardo\.?ai|ideogram|runway(ml)?|krea\.?ai|dreamstudio|"
    r"bing image creator|made with google ai|generative fill|ai[\s\-]generated",
    re.IGNORECASE,
)
EDITOR_PATTERN = re.compile(
    r"photoshop|lightroom|gimp|snapseed|affinity|pixelmator|capture one|darktable|facetune|"
    r"picsart|canva|paint\.net|luminar",
    re.IGNORECASE,
)

EXIF_IFD = ExifTags.IFD.Exif
GPS_IFD = ExifTags.IFD.GPSInfo
IFD1 = ExifTags.IFD.IFD1

IFD0_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x0132: "date_time",
             0x013B: "artist", 0x8298: "copyright", 0x010E: "image_description"}
EXIF_TAGS = {0x9003: "date_time_original", 0x829A: "exposure_time", 0x829D: "f_number",
             0x8827: "iso", 0x920A: "focal_length", 0xA433: "lens_make", 0xA434: "lens_model",
             0xA431: "body_serial_number"}
EXPOSURE_KEYS = ("exposure_time", "f_number", "iso", "focal_length")
# ComfyUI's WebP writer stores its workflow in the EXIF Make/Model fields.
GENERATOR_EXIF_PREFIXES = ("workflow:", "prompt:")

IPTC_FIELDS = {(2, 65): "originating_program", (2, 70): "program_version", (2, 80): "byline",
               (2, 110): "credit", (2, 115): "source", (2, 120): "caption"}

XMP_FIELDS = {
    "digital_source_type": "Iptc4xmpExt:DigitalSourceType",
    "creator_tool": "xmp:CreatorTool",
    "provenance": "dcterms:provenance",
    "credit": "photoshop:Credit",
    "make": "tiff:Make",
    "model": "tiff:Model",
    "software_agent": "stEvt:softwareAgent",
}


def _clean(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:500]
    if isinstance(value, tuple):
        return [_clean(v) for v in value]
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return str(value)[:500]


def camera_name(make: Any, model: Any) -> str:
    """'Canon' + 'Canon EOS 80D' -> 'Canon EOS 80D' (many makers repeat the make in the
    model); 'NIKON CORPORATION' + 'NIKON D750' -> 'NIKON D750'; 'Apple' + 'iPhone 13' -> 'Apple iPhone 13'."""
    make_s, model_s = str(make or "").strip(), str(model or "").strip()
    if not model_s:
        return make_s or "?"
    first_word = make_s.split()[0].lower() if make_s else ""
    if not make_s or (first_word and model_s.lower().startswith(first_word)):
        return model_s
    return f"{make_s} {model_s}"


def read_exif(image: Image.Image) -> dict[str, Any]:
    exif = image.getexif()
    out: dict[str, Any] = {}
    for tag, key in IFD0_TAGS.items():
        if tag in exif:
            out[key] = _clean(exif[tag])
    sub = exif.get_ifd(EXIF_IFD)
    for tag, key in EXIF_TAGS.items():
        if tag in sub:
            out[key] = _clean(sub[tag])
    out["gps_present"] = bool(exif.get_ifd(GPS_IFD))
    ifd1 = exif.get_ifd(IFD1)
    out["thumbnail_present"] = 0x0201 in ifd1 or 0x0111 in ifd1
    return out


def read_xmp(image: Image.Image) -> dict[str, str]:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or image.info.get("xmp_packet")
    if raw is None and hasattr(image, "tag_v2"):  # TIFF keeps XMP in tag 700
        raw = image.tag_v2.get(700)
    if not raw:
        return {}
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    out: dict[str, str] = {}
    # Prefixes are matched literally: every writer seen uses the standard ones, and a
    # regex stays robust on the broken XML that real files contain.
    for key, name in XMP_FIELDS.items():
        esc = re.escape(name)
        match = (
            re.search(rf'{esc}\s*=\s*"([^"]*)"', text)
            or re.search(rf"<{esc}\s+rdf:resource\s*=\s*\"([^\"]*)\"", text)
            or re.search(rf"<{esc}>\s*(?:<rdf:Alt>\s*<rdf:li[^>]*>)?([^<]+)<", text)
        )
        if match and match.group(1).strip():
            out[key] = match.group(1).strip()[:500]
    return out


def read_iptc(image: Image.Image) -> dict[str, str]:
    if not isinstance(image, ImageFile.ImageFile):
        return {}  # IPTC is only read from a file's bytes: getiptcinfo returns None on any other image
    try:
        info = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:  # malformed IIM blocks are common and harmless here
        return {}
    out = {}
    for key, name in IPTC_FIELDS.items():
        if key in info:
            value = info[key]
            out[name] = _clean(value[0] if isinstance(value, list) else value)
    return out


# ICC device classes (ICC.1 7.2.5) in words.
ICC_DEVICE_CLASSES = {"scnr": "input device (camera or scanner)", "mntr": "display", "prtr": "printer",
                      "link": "device link", "spac": "colour space", "abst": "abstract", "nmcl": "named colour"}


def read_icc(image: Image.Image) -> dict[str, Any] | None:
    """The ICC profile's description and what it says of itself: {description, device_class,
    colour_space, manufacturer, model}; None without a profile."""
    icc = image.info.get("icc_profile")
    if not icc:
        return None
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
    except Exception:
        return {"description": "unparseable ICC profile"}
    return {"description": profile.profile_description or None,
            "device_class": ICC_DEVICE_CLASSES.get(profile.device_class, profile.device_class),
            "colour_space": (profile.xcolor_space or "").strip() or None,
            "manufacturer": (profile.manufacturer or "").strip() or None,
            "model": (profile.model or "").strip() or None}


def icc_sentence(icc: dict[str, Any]) -> str:
    """What an ICC profile is, in words: a profile's name alone ('c2', 'sRGB IEC61966-2.1')
    means nothing to most readers. It is informational: colour profiles are copied by every
    editor and platform."""
    if "device_class" not in icc:
        return "The file carries an ICC colour profile that could not be read."
    name = f"named '{icc['description']}'" if icc["description"] else "without a name"
    kind = ", ".join(v for v in (f"{icc['device_class']} profile" if icc["device_class"] else None,
                                 icc["colour_space"]) if v)
    maker = " ".join(v for v in (icc["manufacturer"], icc["model"]) if v)
    names = f"it names the device {maker!r}" if maker else "it names no camera or generator"
    return (f"The file carries an ICC colour profile {name}" + (f" ({kind})" if kind else "")
            + f"; {names}. Colour profiles are copied by editors and platforms: informational only.")


class MetadataAnalyzer(AnalyzerBase):
    name = SOURCE

    def analyze(self, image: ImageInput) -> Findings:
        img = image.image
        exif = read_exif(img)
        xmp = read_xmp(img)
        iptc = read_iptc(img)
        icc = read_icc(img)
        metadata = {"exif": exif, "xmp": xmp, "iptc": iptc, "icc_profile": icc and icc["description"]}
        evidence: list[Evidence] = []

        dst = short_source_type(xmp.get("digital_source_type"))
        if dst in AI_SOURCE_TYPES:
            weight, words = AI_SOURCE_TYPES[dst]
            evidence.append(Evidence(SOURCE, "iptc_ai_source_type",
                                     f"The file's own (unsigned) XMP metadata declares it {words} "
                                     f"(IPTC DigitalSourceType {dst}).", round(weight * 0.7, 3),
                                     {"digital_source_type": dst}))
        elif dst in CAPTURE_SOURCE_TYPES:
            evidence.append(Evidence(SOURCE, "iptc_capture_source_type",
                                     f"The file's unsigned XMP metadata declares a camera capture ({dst}); "
                                     "unsigned metadata is easy to forge.", -0.3, {"digital_source_type": dst}))

        software_fields = {
            "EXIF Software": exif.get("software"), "XMP CreatorTool": xmp.get("creator_tool"),
            "XMP softwareAgent": xmp.get("software_agent"), "IPTC originating program":
            iptc.get("originating_program"), "IPTC credit": iptc.get("credit"), "XMP credit": xmp.get("credit"),
            "PNG Software": img.info.get("Software") if isinstance(img.info.get("Software"), str) else None,
            "PNG Source": img.info.get("Source") if isinstance(img.info.get("Source"), str) else None,
        }
        ai_tools = {k: v for k, v in software_fields.items() if isinstance(v, str) and AI_TOOL_PATTERN.search(v)}
        if ai_tools:
            named = "; ".join(f"{k} = {v!r}" for k, v in ai_tools.items())
            evidence.append(Evidence(SOURCE, "ai_tool_named",
                                     f"The metadata names an AI image tool: {named}.", 4.0, ai_tools))
        editors = {k: v for k, v in software_fields.items()
                   if isinstance(v, str) and k not in ai_tools and EDITOR_PATTERN.search(v)}
        if editors:
            named = "; ".join(f"{k} = {v!r}" for k, v in editors.items())
            evidence.append(Evidence(SOURCE, "editing_software",
                                     f"The image passed through editing software ({named}); editing is "
                                     "not AI generation, but the pixels are not straight from a camera.",
                                     0.3, editors))

        make, model = exif.get("make"), exif.get("model")
        is_camera = bool(make or model) and not any(
            str(v).startswith(GENERATOR_EXIF_PREFIXES) for v in (make, model) if v)
        if is_camera:
            richness = [k for k in ("date_time_original", *EXPOSURE_KEYS) if k in exif]
            extras = [k for k in ("lens_model", "gps_present", "thumbnail_present") if exif.get(k)]
            weight = -0.5 - 0.15 * len(richness) - 0.1 * len(extras)
            evidence.append(Evidence(SOURCE, "camera_exif",
                                     f"Camera EXIF: {camera_name(make, model)}"
                                     + (f", with {', '.join(richness + extras)}" if richness or extras else "")
                                     + ". EXIF is easy to copy into a fake, so this counts only a little.",
                                     round(max(weight, -1.5), 3),
                                     {"make": make, "model": model, "fields": richness + extras}))
        elif image.media_type in ("image/jpeg", "image/heic", "image/heif", "image/png", "image/webp", "image/avif"):
            evidence.append(Evidence(SOURCE, "no_camera_metadata",
                                     "No camera metadata (EXIF make and model). Weak evidence at most: "
                                     "social platforms and messengers strip it from real photos.", 0.2))
        if icc:
            evidence.append(Evidence(SOURCE, "icc_profile", icc_sentence(icc), 0.0, icc))
        if xmp.get("provenance"):
            evidence.append(Evidence(SOURCE, "xmp_provenance_reference",
                                     "XMP dcterms:provenance points to a C2PA manifest "
                                     f"({xmp['provenance']}).", 0.0, {"provenance": xmp["provenance"]}))
        return Findings(evidence=evidence, metadata=metadata)
