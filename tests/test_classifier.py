"""The learned classifier at run time: the shipped model inside analyze(), switched off or
failing as evidence, its preprocessing from the card, and a card of an unknown kind refused."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck import AnalysisOptions, analyze, testkit
from synthcheck.models import DEFAULT_MODEL, list_models, load_classifier
from synthcheck.pipeline import Scanner

from .conftest import EXAMPLES, REPO


def test_shipped_model_is_registered_and_used_by_analyze():
    assert DEFAULT_MODEL in list_models()
    report = analyze(EXAMPLES / "plain_photo.jpg")
    assert report.classifier is not None and report.classifier.model == DEFAULT_MODEL
    assert 0.0 <= report.classifier.p_generated <= 1.0
    assert report.classifier.regions and all(len(row) == len(report.classifier.regions[0])
                                             for row in report.classifier.regions)
    # the default's map comes from its region head (card.region_head), and the report says so
    assert report.classifier.regions_from == "region_head"
    item = next(e for e in report.evidence if e.code == "classifier_score")
    assert "likely generated" in item.message and abs(item.weight) <= 4.0


def test_classifier_can_be_switched_off_and_failures_become_evidence(tmp_path):
    off = Scanner(AnalysisOptions(classifier=None)).analyze(EXAMPLES / "plain_photo.jpg")
    assert off.classifier is None and any(e.code == "classifier_unavailable" for e in off.evidence)
    broken = Scanner(AnalysisOptions(classifier="no-such-model")).analyze(EXAMPLES / "plain_photo.jpg")
    failed = next(e for e in broken.evidence if e.code == "analyzer_failed")
    assert failed.source == "classifier" and "no-such-model" in failed.message
    assert broken.risk is not None and broken.error is None


def test_preprocessing_comes_from_the_card():
    classifier = load_classifier(DEFAULT_MODEL)
    prep = classifier.card.preprocessing
    rgb = np.asarray(testkit.photo_like(prep.crop_size * 10, prep.crop_size * 10))
    result = classifier.predict(rgb)
    from synthcheck.models.crops import grid_shape

    rows, cols = grid_shape(*rgb.shape[:2], prep)  # the card's grid, capped by the card
    assert (len(result.regions), len(result.regions[0])) == (rows, cols)
    assert rows * cols <= (prep.max_crops or prep.max_grid ** 2)


def test_a_lone_crop_sits_where_the_card_anchors_it():
    from synthcheck.models.card import Preprocessing
    from synthcheck.models.crops import crop_grid

    corner, centre = Preprocessing(crop_size=224, max_grid=1), Preprocessing(crop_size=224, max_grid=1, anchor="centre")
    assert crop_grid(600, 1000, corner) == (1, 1, [(0, 0)])  # cards before the field: unchanged
    assert crop_grid(600, 1000, centre) == (1, 1, [(188, 388)])
    assert crop_grid(224, 300, centre) == (1, 1, [(0, 38)])
    # a grid still spans the whole image, corner to corner, whatever the anchor
    grid = Preprocessing(crop_size=160, max_grid=4, anchor="centre")
    assert crop_grid(480, 640, grid) == crop_grid(480, 640, Preprocessing(crop_size=160, max_grid=4))


def test_a_card_of_a_retired_kind_is_refused_by_name(tmp_path):
    """One table of model kinds (models.MODEL_KINDS): a Lite0 card, whose code left the product,
    is refused with its kind named, before its weights are read."""
    import shutil

    from synthcheck.errors import ModelError
    from synthcheck.models import MODEL_KINDS, load_classifier_from

    retired = REPO / "training" / "experiments" / "retired" / "synthcheck-lite0-v13"
    shutil.copy(retired / "card.json", tmp_path / "card.json")
    with pytest.raises(ModelError, match="of kind 'tf_efficientnet_lite0'.*cannot load"):
        load_classifier_from(tmp_path)
    assert list(MODEL_KINDS) == ["clip-vit-b16-probe"]
