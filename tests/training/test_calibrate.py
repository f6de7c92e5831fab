"""Calibration on held-out sources: the fit recovers a known scaling, cross-fitting never
lets a group see its own labels, a richer scaling must win by a margin, and a shift the
calibration chooses becomes the card's intercept, which the classifier applies."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.models.card import ModelCard
from synthcheck.models.clip_probe import ClipProbeClassifier, ProbeHead
from synthcheck.training.calibrate import (
    CURRENT,
    MIN_LOG_LOSS_GAIN,
    Scaling,
    balanced_weights,
    choose_scaling,
    cross_fitted,
    fit_scaling,
    recalibrated_card,
)

from ..conftest import REPO


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


def test_a_chosen_shift_becomes_the_intercept_the_classifier_applies():
    card = ModelCard.load(REPO / "models" / "synthcheck-clip-v4" / "card.json")
    scaling = Scaling(temperature=1.5, shift=-0.75)
    comparison = {CURRENT: {"clean": {}, "laundered": {}}, "held-out temperature and shift": {"clean": {"auc": 1},
                                                                                            "laundered": {}}}
    recalibrated = recalibrated_card(card, scaling, comparison, "held-out temperature and shift", {}, "9.9.9")
    assert recalibrated.members[0].bias == -0.75 and recalibrated.temperature == 1.5

    features = np.random.default_rng(0).normal(size=(1, 8))

    def encoder(batch):  # a stand-in backbone: the same features for any crop
        return {"cls": np.repeat(features[None], len(batch), axis=0).reshape(len(batch), 1, 8)}

    head = ProbeHead(np.linspace(-1, 1, 8), 0.2, np.zeros(8), np.ones(8))
    rgb = np.zeros((300, 400, 3), np.uint8)
    before = ClipProbeClassifier(card, encoder, head).mean_logit(rgb)
    after = ClipProbeClassifier(recalibrated, encoder, head)
    assert after.mean_logit(rgb) == pytest.approx(before - 0.75)
    assert after.predict(rgb).p_generated == pytest.approx(scaling.apply(np.array([before]))[0], abs=1e-3)
