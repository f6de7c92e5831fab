"""Regenerate the bundled sample images in examples/ (run from the repository root):

    python scripts/make_examples.py

Every sample but one is made here from synthetic pixels; nothing is copied from ../shared.
The exception is a real face for the faces check: `astronaut_face.jpg` is scikit-image's
`astronaut.png` (NASA portrait of Eileen Collins, public domain), read from the
scikit-image 0.25.2 wheel (`pip download --no-deps`, sha256 checked) and saved as JPEG.
The C2PA sample is signed by a fresh throw-away test CA whose root is written to
examples/test_ca_root.pem, so `--trust-anchors examples/test_ca_root.pem` shows the
"trusted" state."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
from imwatermark import WatermarkEncoder
from PIL import Image, PngImagePlugin

from synthcheck import testkit
from synthcheck.analyzers.watermark import KNOWN_WATERMARKS

OUT = Path("examples")
IMAGES = OUT / "images"

A1111_PARAMETERS = (
    "portrait photo of a woman holding a passport, natural light, 85mm\n"
    "Negative prompt: cartoon, painting, blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567890, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 80D"
    exif[0x0132] = "2024:05:17 10:42:13"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:05:17 10:42:13"
    sub[0x829A] = 1 / 250
    sub[0x829D] = 5.6
    sub[0x8827] = 200
    sub[0x920A] = 35.0
    sub[0xA434] = "EF-S18-135mm f/3.5-5.6 IS USM"
    return exif


def camera_tables() -> list[list[int]]:
    """Quantization tables unlike libjpeg's, as a camera's encoder writes them."""
    luma = [max(1, int(2 + (i // 8 + i % 8) * 1.5)) for i in range(64)]
    chroma = [max(1, int(3 + (i // 8 + i % 8) * 2.5)) for i in range(64)]
    return [luma, chroma]


SKIMAGE_WHEEL = "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
ASTRONAUT_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"


def astronaut_face() -> None:
    """A real photo with one face (public domain), for the faces check's sample."""
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "scikit-image==0.25.2", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("scikit_image-0.25.2-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read("skimage/data/astronaut.png")
    if hashlib.sha256(data).hexdigest() != ASTRONAUT_SHA256:
        raise SystemExit("skimage/data/astronaut.png is not the file this script expects")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    (IMAGES / "astronaut_face.jpg").write_bytes(testkit.encode(image, "JPEG", quality=90))


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    ca = testkit.make_test_ca("synthcheck examples")
    (OUT / "test_ca_root.pem").write_bytes(ca.root_pem)

    jpeg = testkit.encode(testkit.photo_like(768, 512, seed=1), "JPEG", quality=88)
    (IMAGES / "ai_signed_c2pa.jpg").write_bytes(
        testkit.sign_image(jpeg, "image/jpeg", ca, "trainedAlgorithmicMedia", "ai_signed_c2pa.jpg"))

    (IMAGES / "camera_exif.jpg").write_bytes(testkit.encode(
        testkit.photo_like(900, 600, seed=2), "JPEG", exif=camera_exif(), qtables=camera_tables()))

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    (IMAGES / "sd_webui_parameters.png").write_bytes(
        testkit.encode(testkit.photo_like(512, 512, seed=3), "PNG", pnginfo=info, optimize=True))

    (IMAGES / "plain_photo.jpg").write_bytes(testkit.encode(testkit.photo_like(1000, 667, seed=4), "JPEG", quality=85))

    sdxl = next(w for w in KNOWN_WATERMARKS if w.name == "SDXL")
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", list(sdxl.bits))
    bgr = cv2.cvtColor(np.asarray(testkit.photo_like(512, 512, seed=0)), cv2.COLOR_RGB2BGR)
    marked = Image.fromarray(cv2.cvtColor(encoder.encode(bgr, "dwtDct"), cv2.COLOR_BGR2RGB))
    # PNG: dwtDct marks rarely survive JPEG re-compression, which is their known weakness.
    (IMAGES / "sdxl_watermarked.png").write_bytes(testkit.encode(marked, "PNG", optimize=True))

    astronaut_face()

    for path in sorted(OUT.rglob("*.*")):
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
