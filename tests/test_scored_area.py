"""What the classifier looked at (issue 29, item 7): its sentence names the area it scored
(one centre crop, a grid of crops, the whole small image, and the global view where the
card's preprocessing has one), and the report records the crops' boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synthcheck import AnalysisOptions, ClassifierResult, analyze, testkit
from synthcheck.analyzers.classifier import ClassifierAnalyzer, scored_area
from synthcheck.fusion import classifier_evidence
from synthcheck.image_input import open_image
from synthcheck.models.card import Preprocessing
from synthcheck.models.crops import global_view

from .conftest import EXAMPLES

CENTRE = Preprocessing(crop_size=224, max_grid=1, anchor="centre")
GLOBAL = Preprocessing(crop_size=224, max_grid=1, anchor="centre", global_view=True)
GRID = Preprocessing(crop_size=224, max_grid=2)


WHOLE = Preprocessing(crop_size=224, cell=512, max_crops=30, global_view=True, encode_together=True)


def sentence(prep: Preprocessing, width: int, height: int, p: float = 0.58, pooling: str = "mean") -> str:
    area = scored_area(width, height, prep)
    regions = [[p] * area.cols for _ in range(area.rows)]
    result = ClassifierResult("m", "1", p, regions, crops=area.crops, crop_size=prep.crop_size,
                              global_view=area.global_view, pooling=pooling, coverage=area.coverage(width, height))
    return classifier_evidence(result, width, height).message


def test_one_centre_crop_is_named_as_such():
    area = scored_area(4000, 3000, CENTRE)
    assert area.crops == [[1888, 1388, 224, 224]] and area.global_view is None
    text = sentence(CENTRE, 4000, 3000)
    assert "rates the centre 224x224 crop of this 4000x3000 image 58% likely generated" in text
    assert "pixels" not in text and "whole image" not in text


def test_a_grid_of_crops_and_a_small_image():
    area = scored_area(1000, 667, GRID)
    assert (area.rows, area.cols) == (2, 2) and len(area.crops) == 4
    assert area.crops[0] == [0, 0, 224, 224] and area.crops[-1] == [776, 443, 224, 224]
    assert "4 crops of 224x224 at full resolution from edge to edge of this 1000x667 image" in sentence(GRID, 1000, 667)
    small = scored_area(200, 150, CENTRE)
    assert small.crops == [[0, 0, 200, 150]]
    assert "the whole 200x150 image (padded by reflection to 224x224)" in sentence(CENTRE, 200, 150)
    assert "the whole 224x224 image 58%" in sentence(CENTRE, 224, 224)


def test_the_global_view_is_named_where_the_card_has_one():
    area = scored_area(4000, 3000, GLOBAL)
    shrunk = global_view(np.zeros((3000, 4000, 3), np.uint8), 224).shape
    assert area.global_view == [shrunk[1], shrunk[0]] == [299, 224]
    text = sentence(GLOBAL, 4000, 3000)
    assert "the centre 224x224 crop of this 4000x3000 image" in text
    assert "the whole image shrunk to 299x224 (its centre 224x224; the two views averaged)" in text
    assert "the whole image shrunk to 224x224" in sentence(GLOBAL, 640, 640)


def test_a_result_without_crops_still_reads():  # training/evaluate.py weighs bare probabilities
    assert "rates the image 58% likely generated" in classifier_evidence(ClassifierResult("m", "1", 0.58)).message


@dataclass
class StubCard:
    preprocessing: Preprocessing
    name: str = "stub"
    version: str = "0"
    pooling: str = "mean"
    region_head: bool = False


class StubModel:
    def __init__(self, prep: Preprocessing):
        self.card = StubCard(prep)

    def predict(self, rgb):
        return ClassifierResult("stub", "0", 0.7, [[0.7]])


@pytest.mark.parametrize("prep, seen", [(CENTRE, False), (GLOBAL, True)])
def test_the_analyzer_reads_the_cards_preprocessing(prep, seen):
    analyzer = ClassifierAnalyzer(AnalysisOptions(watermarks=False, faces=False))
    analyzer.__dict__["model"] = StubModel(prep)  # the cached model: a card with or without the global view
    data = testkit.encode(testkit.photo_like(900, 600), "JPEG", quality=90)
    image = open_image("x.jpg", data, 10**8)
    image.load_pixels()
    findings = analyzer.analyze(image)
    item = findings.evidence[0]
    assert findings.classifier.crops == [[338, 188, 224, 224]] == item.details["crops"]
    assert item.details["scored"] in item.message and "the centre 224x224 crop of this 900x600 image" in item.message
    assert ("whole image shrunk to 336x224" in item.message) == seen
    assert item.details["global_view"] == ([336, 224] if seen else None)
    assert findings.classifier.regions_from == "crops"  # a card without a region head: the crops' own scores


def test_a_scan_reports_what_the_shipped_model_scored():
    from synthcheck.models import DEFAULT_MODEL, MODELS_DIR, ModelCard

    report = analyze(EXAMPLES / "ai_signed_c2pa.jpg", options=AnalysisOptions(watermarks=False, faces=False))
    prep = ModelCard.load(MODELS_DIR / DEFAULT_MODEL / "card.json").preprocessing
    area = scored_area(768, 512, prep)  # the grid the default card asks for on this 768x512 image
    assert report.classifier.crops == area.crops and len(report.classifier.regions) == area.rows
    assert report.classifier.coverage == area.coverage(768, 512)
    item = next(e for e in report.evidence if e.code == "classifier_score")
    assert item.details["scored"] in item.message and "768x512 image" in item.message
    assert report.to_dict()["classifier"]["crops"] == area.crops


def test_the_whole_image_grid_reaches_every_corner_and_says_what_it_covered():
    area = scored_area(1000, 1000, WHOLE)  # 1 MP: a 2x2 grid, one crop in each corner
    assert (area.rows, area.cols) == (2, 2)
    assert area.crops == [[0, 0, 224, 224], [776, 0, 224, 224], [0, 776, 224, 224], [776, 776, 224, 224]]
    assert area.coverage(1000, 1000) == {"rows": 2, "cols": 2, "crops": 4, "capped": False, "pixel_share": 0.201}
    text = sentence(WHOLE, 1000, 1000, pooling="max")
    assert "a 2x2 grid of 4 crops of 224x224 at full resolution from edge to edge of this 1000x1000 image" in text
    assert "1000x1000 image (20% of its pixels), and the whole image shrunk" in text
    assert "the whole image shrunk to 224x224 (the most suspicious crop and the whole image averaged)" in text


def test_a_huge_image_gets_a_capped_grid_and_the_sentence_says_so():
    area = scored_area(4032, 3024, WHOLE)  # 12 MP: 8x6 cells asked, at most 30 crops
    assert area.rows * area.cols <= 30 and area.capped and (area.rows, area.cols) == (5, 6)
    assert area.crops[0][:2] == [0, 0] and area.crops[-1][:2] == [4032 - 224, 3024 - 224]
    assert "a 5x6 grid of 30 crops" in sentence(WHOLE, 4032, 3024) and "capped at 30 crops" in sentence(
        WHOLE, 4032, 3024)
    assert not scored_area(640, 480, WHOLE).capped and scored_area(640, 480, WHOLE).rows == 1


def _regions_sentence(regions: list[list[float]], p: float) -> str:
    area = scored_area(1000, 1000, WHOLE)
    result = ClassifierResult("m", "1", p, regions, crops=area.crops, crop_size=224, global_view=area.global_view,
                              pooling="max", coverage=area.coverage(1000, 1000))
    return classifier_evidence(result, 1000, 1000).message


def test_a_region_is_named_only_when_it_stands_out_from_the_rest():
    named = _regions_sentence([[0.97, 0.04], [0.06, 0.03]], 0.8)
    assert "one region stands out: the top left crop at (0, 0, 224, 224) scores 97%" in named
    # the whole image suspicious: no region is singled out
    assert "stands out" not in _regions_sentence([[0.97, 0.9], [0.85, 0.88]], 0.95)
    # nothing suspicious, or a crop only a little above the rest
    assert "stands out" not in _regions_sentence([[0.3, 0.04], [0.06, 0.03]], 0.1)
    assert "stands out" not in _regions_sentence([[0.55, 0.3], [0.35, 0.3]], 0.4)
