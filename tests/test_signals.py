"""JPEG quantization tables, generator sizes and invisible watermarks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from synthcheck import analyze, testkit
from synthcheck.analyzers import dimensions
from synthcheck.analyzers.jpeg_quant import estimate_quality
from synthcheck.analyzers.watermark import KNOWN_WATERMARKS, block_votes, decode_bits

from .conftest import EXAMPLES, codes, evidence


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_standard_tables_and_quality_estimate(quality):
    report = analyze(testkit.encode(testkit.photo_like(200, 200), "JPEG", quality=quality))
    item = evidence(report, "jpeg_standard_tables")
    assert item.details["estimated_quality"] == quality


def test_camera_tables_are_not_standard():
    report = analyze((EXAMPLES / "camera_exif.jpg").read_bytes())
    item = evidence(report, "jpeg_custom_tables")
    assert item.weight < 0 and not item.details["standard_ijg_tables"]
    assert estimate_quality({0: [1] * 64}) == (100, True)  # libjpeg's quality 100 is all ones
    quality, exact = estimate_quality({0: [3] * 64})
    assert 90 < quality < 100 and not exact


def test_generator_sizes():
    assert "generator_size" in codes(analyze(testkit.encode(testkit.photo_like(1024, 1024), "PNG")))
    assert "generator_size" in codes(analyze(testkit.encode(testkit.photo_like(1024, 1536), "PNG")))
    assert "multiple_of_64" in codes(analyze(testkit.encode(testkit.photo_like(1088, 640), "PNG")))
    plain = analyze(testkit.encode(testkit.photo_like(1001, 667), "PNG"))
    assert not {"generator_size", "multiple_of_64"} & codes(plain)


@pytest.mark.parametrize("size", [(512, 512), (2048, 1536), (1536, 2048), (1024, 768)])
def test_common_real_sizes_are_no_evidence(size):
    """512x512 (test images, avatars: 171 of 1464 real files in the corpora) and the 3 MP
    4:3 camera size do not count as generator sizes (generator_sizes.json)."""
    report = analyze(testkit.encode(testkit.photo_like(*size), "PNG"))
    assert not {"generator_size", "multiple_of_64"} & codes(report)


def test_size_weights_are_the_derived_table():
    table = json.loads((Path(dimensions.__file__).with_name("generator_sizes.json")).read_text())
    assert table["derived_by"] == "training/experiments/size_weights.py"
    for row in table["sizes"]:
        long_side, short_side = map(int, row["size"].split("x"))
        assert dimensions.GENERATOR_SIZES.get((long_side, short_side), 0.0) == row["weight"]
        assert 0 <= row["weight"] <= table["cap"]


def _reference():
    """invisible-watermark, the reference the decoder is checked against (it requires torch,
    so it comes with the `train` extra: without it these tests skip, saying so)."""
    return pytest.importorskip("imwatermark", reason="needs invisible-watermark, the reference watermark library "
                               "(in the train extra: it requires torch)")


def _marked(mark, seed=0, size=512) -> np.ndarray:
    encoder = _reference().WatermarkEncoder()
    encoder.set_watermark("bits", list(mark.bits))
    bgr = cv2.cvtColor(np.asarray(testkit.photo_like(size, size, seed=seed)), cv2.COLOR_RGB2BGR)
    return encoder.encode(bgr, "dwtDct")


@pytest.mark.parametrize("size", [(512, 512), (1001, 667), (3000, 2000)])
def test_block_votes_identical_to_the_pywt_reference(size):
    """The hand-written Haar approximation gives exactly pywt's votes, block for block
    (on a photo and on noise, where many remainders sit near the threshold)."""
    import pywt

    from synthcheck.analyzers.watermark import BLOCK, SCALE

    def reference(bgr):
        rows, cols = bgr.shape[:2]
        approx, _ = pywt.dwt2(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)[: rows // 4 * 4, : cols // 4 * 4, 1], "haar")
        br, bc = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
        blocks = approx[: br * BLOCK, : bc * BLOCK].reshape(br, BLOCK, bc, BLOCK).transpose(0, 2, 1, 3).reshape(
            br * bc, BLOCK * BLOCK)
        pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
        return ((np.abs(blocks[np.arange(len(blocks)), pos]) % SCALE) > 0.5 * SCALE).astype(np.float64)

    photo = np.asarray(testkit.photo_like(*size, seed=4))
    noise = np.random.default_rng(0).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    for rgb in (photo, noise):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        assert np.array_equal(block_votes(bgr), reference(bgr))
        assert np.array_equal(block_votes(rgb, cv2.COLOR_RGB2YUV), reference(bgr))  # no copy, same votes


@pytest.mark.parametrize("mark", KNOWN_WATERMARKS, ids=lambda m: m.name)
def test_vectorised_decoder_matches_library(mark):
    bgr = _marked(mark, seed=1)
    library_bits = _reference().WatermarkDecoder("bits", len(mark.bits)).decode(bgr, "dwtDct")
    ours = decode_bits(block_votes(bgr), len(mark.bits))
    assert list(ours) == [int(b) for b in library_bits]


@pytest.mark.parametrize("mark", KNOWN_WATERMARKS, ids=lambda m: m.name)
def test_each_known_watermark_is_found(mark):
    rgb = cv2.cvtColor(_marked(mark, seed=0), cv2.COLOR_BGR2RGB)
    report = analyze(testkit.encode(Image.fromarray(rgb), "PNG"))
    item = evidence(report, "invisible_watermark")
    assert item.details["watermark"] == mark.name and item.weight >= 5


def test_clean_image_has_no_watermark():
    report = analyze(testkit.encode(testkit.photo_like(640, 640, seed=9), "PNG"))
    item = evidence(report, "no_known_watermark")
    assert item.weight == 0 and item.details["bit_errors"] > 0


def test_small_image_skips_watermark_check():
    assert "watermark_not_checked" in codes(analyze(testkit.encode(testkit.photo_like(200, 150), "PNG")))
