"""JPEG quantization tables: estimated quality, and whether the tables are the
standard libjpeg (IJG) ones - written by ordinary software: a generator's export,
an editor, a platform re-encode - or a camera/phone encoder's own."""

from __future__ import annotations

import numpy as np

from ..image_input import ImageInput
from ..report import Evidence
from .base import AnalyzerBase, Findings

SOURCE = "jpeg_quant"

# ITU-T T.81 Annex K tables, natural (row-major) order, as Pillow reports them.
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
IJG_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32)


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's jpeg_quality_scaling + baseline clamp."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


_LUMA_BY_Q = np.stack([ijg_table(IJG_LUMA, q) for q in range(1, 101)])
_CHROMA_BY_Q = np.stack([ijg_table(IJG_CHROMA, q) for q in range(1, 101)])


def estimate_quality(tables: dict[int, list[int]]) -> tuple[int, bool]:
    """(closest IJG quality 1..100, whether every table equals the IJG table at it)."""
    luma = np.asarray(tables[min(tables)])
    errors = np.abs(_LUMA_BY_Q - luma).sum(axis=1)
    quality = int(np.argmin(errors)) + 1
    exact = errors[quality - 1] == 0
    chroma_ids = sorted(tables)[1:]
    for table_id in chroma_ids:
        exact = exact and bool(np.array_equal(np.asarray(tables[table_id]), _CHROMA_BY_Q[quality - 1]))
    return quality, bool(exact)


class JpegQuantAnalyzer(AnalyzerBase):
    name = SOURCE
    media_types = frozenset({"image/jpeg"})

    def analyze(self, image: ImageInput) -> Findings:
        tables = getattr(image.image, "quantization", None)
        if not tables:
            return Findings(evidence=[Evidence(SOURCE, "jpeg_no_tables",
                                               "The JPEG has no readable quantization tables.", 0.0)])
        quality, standard = estimate_quality(tables)
        details = {"estimated_quality": quality, "standard_ijg_tables": standard, "table_count": len(tables)}
        if standard:
            return Findings(evidence=[Evidence(
                SOURCE, "jpeg_standard_tables",
                f"Standard libjpeg quantization tables at quality {quality}: written by ordinary "
                "software (a generator's export, an editor or a platform re-encode), not by a "
                "camera's own encoder.", 0.2, details)])
        return Findings(evidence=[Evidence(
            SOURCE, "jpeg_custom_tables",
            f"Non-standard quantization tables (closest libjpeg quality {quality}), as camera and "
            "phone encoders write (some editors do too).", -0.4, details)])
