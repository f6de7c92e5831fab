"""The learned classifier as an analyzer: it needs pixels only, so it is the one
check that still works on screenshots and re-uploads with no metadata at all. The
model is loaded on first use (once per process), never at construction.

A model scores crops at native resolution (and, where its card says so, the global view),
not the whole image: the report records which area was scored and the sentence names it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from ..fusion import classifier_evidence
from ..image_input import ImageInput
from .base import AnalyzerBase, Findings

SOURCE = "classifier"


@dataclass(frozen=True)
class ScoredArea:
    rows: int
    cols: int
    crops: list[list[int]]  # [x, y, width, height] in the image, row after row (as `regions`)
    global_view: list[int] | None  # [width, height] of the whole image shrunk; None: not scored


def scored_area(width: int, height: int, prep) -> ScoredArea:
    """Where a card's preprocessing (models/card.py Preprocessing) puts its crops on a
    width x height image: models/crops.py's grid on the image as padded there (an image
    smaller than a crop is padded by reflection), each box cut back to the image; and the
    size crops.global_view shrinks the image to (its shorter side crop_size)."""
    from ..models.crops import crop_grid

    size = prep.crop_size
    rows, cols, corners = crop_grid(max(height, size), max(width, size), prep)
    crops = [[x, y, min(size, width - x), min(size, height - y)] for y, x in corners]
    shrunk = None
    if prep.global_view:  # the same arithmetic as crops.global_view (tests/test_scored_area.py)
        scale = size / min(width, height)
        shrunk = [max(size, round(width * scale)), max(size, round(height * scale))]
    return ScoredArea(rows, cols, crops, shrunk)


class ClassifierAnalyzer(AnalyzerBase):
    name = SOURCE
    needs_pixels = True

    def handles(self, media_type: str) -> bool:
        return self.options.classifier is not None

    @cached_property
    def model(self):
        from ..models import load_classifier, resolve

        return load_classifier(resolve(self.options.classifier))

    def analyze(self, image: ImageInput) -> Findings:
        height, width = image.rgb.shape[:2]
        prep = self.model.card.preprocessing
        area = scored_area(width, height, prep)
        result = replace(self.model.predict(image.rgb), crops=area.crops, crop_size=prep.crop_size,
                         global_view=area.global_view)
        return Findings(evidence=[classifier_evidence(result, width, height)], classifier=result)
