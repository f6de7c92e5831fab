"""Image sizes typical of generators: they offer a few fixed output sizes and work on
latents in multiples of 64 pixels. Weak evidence: crops and resizes change it.

The weights come from data (generator_sizes.json, written by
training/experiments/size_weights.py): how often real files have each preset size, against
an even share of generator outputs per preset. A preset that real files commonly have
(512x512: test images, avatars, crops) is not evidence; a size is never evidence *against*
generation, since anyone can resize."""

from __future__ import annotations

import json
from pathlib import Path

from ..image_input import ImageInput
from ..report import Evidence
from .base import AnalyzerBase, Findings

SOURCE = "dimensions"
_TABLE = json.loads((Path(__file__).with_name("generator_sizes.json")).read_text())


def _size(row: dict) -> tuple[int, int]:
    """A table row's "LONGxSHORT" as (long side, short side)."""
    long_side, short_side = row["size"].split("x")
    return int(long_side), int(short_side)


# (long side, short side) -> weight; only sizes that are evidence
GENERATOR_SIZES: dict[tuple[int, int], float] = {_size(row): row["weight"] for row in _TABLE["sizes"]
                                                 if row["weight"] > 0}
MULTIPLE_OF_64_WEIGHT: float = _TABLE["multiple_of_64"]["weight"]
_REAL_FILES = _TABLE["files"]["real"]
_REAL_AT = {_size(row): row["real"] for row in _TABLE["sizes"]}
# standard camera and screen sizes (2048x1536, 1024x768...): never evidence
_CAMERA_SIZES = {_size(row) for row in _TABLE["camera_sizes"]}


class DimensionsAnalyzer(AnalyzerBase):
    name = SOURCE

    def analyze(self, image: ImageInput) -> Findings:
        w, h = image.width, image.height
        size = (max(w, h), min(w, h))
        details = {"width": w, "height": h}
        if size in GENERATOR_SIZES:
            real = _REAL_AT[size]
            return Findings(evidence=[Evidence(
                SOURCE, "generator_size",
                f"{w}x{h} is a standard output size of image generators ({real} of {_REAL_FILES} real files "
                "in the training corpora have it).", GENERATOR_SIZES[size], {**details, "real_files_at_size": real})])
        if (w % 64 == 0 and h % 64 == 0 and 512 <= max(w, h) <= 2048 and size not in _REAL_AT
                and size not in _CAMERA_SIZES and MULTIPLE_OF_64_WEIGHT > 0):
            return Findings(evidence=[Evidence(
                SOURCE, "multiple_of_64",
                f"{w}x{h}: both sides are multiples of 64, as latent-diffusion outputs are.",
                MULTIPLE_OF_64_WEIGHT, details)])
        return Findings()
