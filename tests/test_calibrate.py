"""Calibration on held-out sources: the fit recovers a known scaling, cross-fitting never
lets a group see its own labels, and a recalibrated card makes the classifier output what
the scaling says."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from synthcheck.datasets import load_folder, load_pixels
from synthcheck.models import load_classifier_from
from synthcheck.models.calibrate import (
    CURRENT,
    MIN_LOG_LOSS_GAIN,
    Scaling,
    balanced_weights,
    calibrate,
    choose_scaling,
    cross_fitted,
    fit_scaling,
    mean_logits,
)
from synthcheck.models.card import ModelCard
from synthcheck.models.classifier import Classifier

from .conftest import REPO
from .test_classifier import make_folder, tiny_config


def synthetic(n: int, scaling: Scaling, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Logits and labels drawn so that `scaling` is the true calibration; four groups."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, n)
    labels = (rng.random(n) < scaling.apply(z)).astype(int)
    groups = [f"{'gen' if y else 'real'}:{i % 2}" for i, y in enumerate(labels)]
    return z, labels, groups


def test_balanced_weights_give_each_class_and_each_group_within_it_the_same_mass():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    groups = ["a", "a", "b", "c", "c", "c", "d"]
    w = balanced_weights(labels, groups)
    assert w[labels == 0].sum() == pytest.approx(1) and w[labels == 1].sum() == pytest.approx(1)
    assert w[:2].sum() == pytest.approx(w[2]) and w[3:6].sum() == pytest.approx(w[6])


def test_fit_recovers_a_known_temperature_and_shift_at_even_odds():
    truth = Scaling(temperature=2.5, shift=-1.5)
    z, labels, groups = synthetic(20000, truth)
    both = fit_scaling(z, labels, groups, with_shift=True)
    assert both.temperature == pytest.approx(2.5, rel=0.1)
    # Classes weigh the same, so the fitted probability is the one at a 50% prior (what the
    # fusion expects): the true shift plus the log of the class ratio, times the temperature.
    prior_correction = 2.5 * np.log((labels == 0).sum() / (labels == 1).sum())
    assert both.shift == pytest.approx(-1.5 + prior_correction, abs=0.3)
    only_t = fit_scaling(z, labels, groups, with_shift=False)
    assert only_t.shift == 0.0 and only_t.temperature > 1.0  # overconfident logits get a temperature above 1


def test_cross_fitting_never_lets_a_group_see_its_own_labels():
    z, labels, groups = synthetic(400, Scaling(2.0, 1.0), seed=1)
    p = cross_fitted(z, labels, groups, with_shift=True)
    flipped = labels.copy()
    in_group = np.array([g == "real:0" for g in groups])
    flipped[in_group] = 0  # change what the held-out group says about itself (it stays all real)
    flipped_p = cross_fitted(z, flipped, groups, with_shift=True)
    assert np.allclose(p[in_group], flipped_p[in_group])
    with pytest.raises(ValueError, match="two validation groups"):
        cross_fitted(z, labels, ["real" if y == 0 else "gen" for y in labels], with_shift=False)


def test_a_richer_scaling_must_win_by_a_margin():
    def comparison(current, temperature, shift):
        return {CURRENT: {"balanced_log_loss": current}, "held-out temperature": {"balanced_log_loss": temperature},
                "held-out temperature and shift": {"balanced_log_loss": shift}}

    assert choose_scaling(comparison(0.478, 0.468, 0.467)) == "held-out temperature"  # v7: the shift won by 0.001
    assert choose_scaling(comparison(0.438, 0.450, 0.456)) == CURRENT  # v4
    assert choose_scaling(comparison(0.505, 0.493, 0.499)) == "held-out temperature"  # v5
    assert choose_scaling(comparison(0.500, 0.500 - MIN_LOG_LOSS_GAIN / 2, 0.470)) == "held-out temperature and shift"
    assert choose_scaling(comparison(0.500, 0.499, 0.499)) == CURRENT  # nothing wins by the margin


class SmoothnessScore(torch.nn.Module):
    """One logit per crop: higher for smoother crops (the synthetic 'generated' images are
    smoothed), plus a pseudo-random term of the crop's content so the classes overlap."""

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        detail = (batch[..., 1:] - batch[..., :-1]).abs().mean(dim=(1, 2, 3))  # ~0.033 real, ~0.012 smoothed
        return 100 * (0.022 - detail) + 1.5 * torch.sin(batch.sum(dim=(1, 2, 3)))


def test_recalibrated_card_makes_the_classifier_output_the_fitted_scaling(tmp_path):
    make_folder(tmp_path)  # two 'cameras' and two 'generators': enough groups to leave one out
    records = load_folder(tmp_path)
    # a card of the Lite0 kind (v13's, retired: the card is kept, the weights are not needed here)
    lite0_card = ModelCard.load(REPO / "models" / "experiments" / "retired" / "synthcheck-lite0-v13" / "card.json")
    # A card as training writes it before any held-out calibration (the shipped one may have had one),
    # over a stand-in network that ranks these synthetic images better than chance but not
    # perfectly (the shipped networks' ranking of them is no property of the code under test).
    classifier = Classifier(card=replace(lite0_card, metrics={}), members={"supervised": SmoothnessScore()})
    card = calibrate(classifier, records, version="9.9.9", log=lambda message: None)
    calibration = card.metrics["calibration"]
    assert set(calibration["comparison"]) == {"current (calibration split)", "held-out temperature",
                                              "held-out temperature and shift"}
    assert calibration["chosen"] in calibration["comparison"] and card.version == "9.9.9"
    assert card.metrics["validation"] == calibration["comparison"][calibration["chosen"]]["clean"]
    assert card.members[0].bias == pytest.approx(classifier.card.members[0].bias + calibration["shift"], abs=1e-4)

    recalibrated = Classifier(card=card, members=classifier.members)
    z = mean_logits(classifier, records[:3], laundered=False)
    expected = Scaling(calibration["temperature"], calibration["shift"]).apply(z)
    got = [recalibrated.predict(load_pixels(r)).p_generated for r in records[:3]]
    assert got == pytest.approx(expected, abs=2e-4)
    assert 0.01 < min(got) and max(got) < 0.99  # not saturated: the scaling is what is compared


def test_training_can_calibrate_on_held_out_sources(tmp_path):
    from synthcheck.models.train import run

    make_folder(tmp_path / "data", cameras=("cam_a", "cam_b", "cam_c"), generators=("gen_a", "gen_b", "gen_c"))
    validation = ["real/cam_b:", "real/cam_c:", "generated/gen_b:", "generated/gen_c:"]
    out = run(tiny_config(tmp_path, validation, calibration="held_out_sources"))
    card = json.loads((out / "card.json").read_text())
    calibration = card["metrics"]["calibration"]
    assert card["temperature"] == calibration["temperature"] and calibration["chosen"] in calibration["comparison"]
    assert "## Calibration on held-out sources" in (out / "README.md").read_text()
    with pytest.raises(ValueError, match="already calibrated"):  # its validation split has been used to fit
        calibrate(load_classifier_from(out), load_folder(tmp_path / "data"))
    with pytest.raises(ValueError, match="calibration must be one of"):
        run(tiny_config(tmp_path, validation, calibration="on_everything"))
