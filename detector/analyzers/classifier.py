"""The learned classifier as an analyzer: it needs pixels only, so it is the one
check that still works on screenshots and re-uploads with no metadata at all. The
model is loaded on first use (once per process), never at construction.

A model scores crops at native resolution (and, where its card says so, the global view),
not the whole image: the report records which area was scored and the sentence names it.

The analyzer reports the classifier's probability (classifier_finding); fusion weighs it
(fusion.weigh_classifier: the probability as a capped log-likelihood ratio, limited against
another check's declaration of AI generation)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from ..image_input import ImageInput
from ..odds import logit
from ..report import ClassifierResult, Evidence
from ..wording import percent
from .base import AnalyzerBase, Findings

SOURCE = "classifier"


@dataclass(frozen=True)
class ScoredArea:
    rows: int
    cols: int
    crops: list[list[int]]  # [x, y, width, height] in the image, row after row (as `regions`)
    global_view: list[int] | None  # [width, height] of the whole image shrunk; None: not scored
    capped: bool = False  # the grid is coarser than the card's cell asks (max_crops)

    def coverage(self, width: int, height: int) -> dict:
        """The report's `coverage`: the grid, and the share of the pixels the crops saw."""
        seen = np.zeros((max(1, height), max(1, width)), bool)
        for x, y, w, h in self.crops:
            seen[y : y + h, x : x + w] = True
        return {"rows": self.rows, "cols": self.cols, "crops": len(self.crops), "capped": self.capped,
                "pixel_share": round(float(seen.mean()), 3)}


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
    capped = bool(prep.cell and prep.max_crops
                  and math.ceil(max(height, size) / prep.cell) * math.ceil(max(width, size) / prep.cell) > rows * cols)
    return ScoredArea(rows, cols, crops, shrunk, capped)


# How a pooling rule (models/pooling.py) reads in a sentence, after the global view is named.
POOLING_WORDS = {
    "mean": "the crops' mean and the whole image averaged",
    "max": "the most suspicious crop and the whole image averaged",
    "upper_quartile": "the crops' upper quartile and the whole image averaged",
    "soft_max": "the crops pooled towards the most suspicious one, and the whole image, averaged",
}


def scored_words(result: ClassifierResult, width: int, height: int) -> str:
    """What the classifier scored, in words: "the centre 224x224 crop of this 4000x3000
    image", "4 crops of 224x224 spread over this ...", "the whole 200x150 image (padded ...)",
    and the global view where there was one. Pure: from the crops the result records."""
    size = result.crop_size or 0
    boxes = result.crops
    if len(boxes) == 1:
        x, y, w, h = boxes[0]
        padded = f" (padded by reflection to {size}x{size})" if (w, h) != (size, size) else ""
        if (x, y, w, h) == (0, 0, width, height):
            seen = f"the whole {width}x{height} image{padded}"
        else:
            if abs(x - (width - w) / 2) <= 1 and abs(y - (height - h) / 2) <= 1:
                crop = f"centre {w}x{h} crop"
            elif (x, y) == (0, 0):
                crop = f"top-left {w}x{h} crop"
            else:
                crop = f"{w}x{h} crop at ({x}, {y})"
            seen = f"the {crop} of this {width}x{height} image{padded}"
    else:
        coverage = result.coverage or {}
        grid = f"a {coverage['rows']}x{coverage['cols']} grid of " if coverage else ""
        said = ([f"capped at {len(boxes)} crops for an image this large"] if coverage.get("capped") else []) + (
            [f"{coverage['pixel_share']:.0%} of its pixels"] if "pixel_share" in coverage else [])
        seen = (f"{grid}{len(boxes)} crops of {size}x{size} at full resolution from edge to edge of this "
                f"{width}x{height} image" + (f" ({'; '.join(said)})" if said else ""))
    if result.global_view:
        gw, gh = result.global_view
        centre = f"its centre {size}x{size}; " if (gw, gh) != (size, size) else ""
        if len(boxes) > 1:
            pooled = POOLING_WORDS.get(result.pooling or "mean", f"pooled by {result.pooling}")
            seen += f", and the whole image shrunk to {gw}x{gh} ({centre}{pooled})"
        else:
            seen += f" at full resolution and the whole image shrunk to {gw}x{gh} ({centre}the two views averaged)"
    return seen


# A region "stands out" when its crop says generated (p >= STANDOUT_MIN_P) while the other crops,
# by their median, say real (below STANDOUT_REST_BELOW), at least STANDOUT_LOGIT_GAP logits apart.
# Chosen on held-out composites of three of synthcheck-clip-v5's five folds (a generated patch in a
# corner of a real photo of 1 MP or more: the region named in 70 of 120, a region named in the same
# photos untouched in 1 of 120) and checked on the other two (29 of 80, and 3 of 80); the looser
# p >= 0.5, 2 logits named a region in 17 of 120 untouched photos
# (training/experiments/README.md, "The whole image").
STANDOUT_MIN_P = 0.8
STANDOUT_REST_BELOW = 0.3
STANDOUT_LOGIT_GAP = 3.0


def standout_region(regions: list[list[float]]) -> tuple[int, int, float] | None:
    """(row, col, p) of the crop that stands out from the rest of the image, or None: one
    cell only, or no crop suspicious, or the rest suspicious as well (then the whole image
    is, and naming one crop would say the wrong thing)."""
    cells = sorted(((v, r, c) for r, row in enumerate(regions) for c, v in enumerate(row)), reverse=True)
    if len(cells) < 2 or cells[0][0] < STANDOUT_MIN_P:
        return None
    rest = float(np.median([v for v, _, _ in cells[1:]]))
    top, r, c = cells[0]
    if rest >= STANDOUT_REST_BELOW or logit(top) - logit(rest) < STANDOUT_LOGIT_GAP:
        return None
    return r, c, top


def region_words(row: int, col: int, rows: int, cols: int) -> str:
    """Where a cell of a rows x cols grid lies: "top left", "bottom right", "centre"..."""
    vertical = ["top", "middle", "bottom"][min(2, row * 3 // rows)] if rows > 1 else ""
    horizontal = ["left", "centre", "right"][min(2, col * 3 // cols)] if cols > 1 else ""
    words = f"{vertical} {horizontal}".strip()
    return "centre" if words in ("middle centre", "middle", "") else words


def classifier_finding(result: ClassifierResult, width: int | None = None, height: int | None = None) -> Evidence:
    """What the learned classifier found, as evidence: its calibrated probability (details
    `p_generated`), in words, with the area it scored (a crop is not the whole image) when the
    result records its crops. Its weight is fusion's to compute (fusion.WEIGHERS); 0 here. Pure."""
    where = ""
    standout = standout_region(result.regions)
    if standout:
        r, c, top = standout
        rows, cols = len(result.regions), len(result.regions[0])
        box = result.crops[r * cols + c] if len(result.crops) == rows * cols else None
        at = f" at {tuple(box)}" if box else ""
        where = (f"; one region stands out: the {region_words(r, c, rows, cols)} crop{at} scores {percent(top)} "
                 "while the rest of the crops score low, as a generated or edited part of a real photo would")
    details: dict = {"model": result.model, "version": result.version, "p_generated": result.p_generated}
    if standout:
        details["standout_region"] = {"row": standout[0], "col": standout[1], "p_generated": standout[2],
                                      "box": box}
    if result.crops and width and height:
        seen = scored_words(result, width, height)
        details.update(scored=seen, crops=result.crops, global_view=result.global_view)
        verb = f"rates {seen}"
    else:  # a bare probability (training/evaluate.py): nothing is known of the area
        verb = "rates the image"
    return Evidence(
        SOURCE, "classifier_score",
        f"The learned classifier {result.model} {result.version} {verb} {percent(result.p_generated)} likely "
        f"generated{where}.", 0.0, details)


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
        result = scored_result(self.model, image.rgb)
        return Findings(evidence=[classifier_finding(result, width, height)], classifier=result)


def scored_result(model, rgb) -> ClassifierResult:
    """The model's result on an RGB image with what it scored: where its crops were, the global
    view, the pooling and coverage (the report's classifier section; the faces check reads its
    background off these crops)."""
    height, width = rgb.shape[:2]
    prep = model.card.preprocessing
    area = scored_area(width, height, prep)
    return replace(model.predict(rgb), crops=area.crops, crop_size=prep.crop_size, global_view=area.global_view,
                   pooling=model.card.pooling, coverage=area.coverage(width, height),
                   regions_from="region_head" if model.card.region_head else "crops")
