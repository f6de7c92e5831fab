"""training/evaluate.py's paired group bootstrap: what compare_out_of_fold.py and
leave_source_out.py report as the spread of a difference between two models."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.training.evaluate import high_cut, paired_group_bootstrap, real_at_level_high


def _scores(seed: int, n_groups: int = 40, per_group: int = 10):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_groups) % 2, per_group).astype(float)
    groups = [f"g{i}" for i in np.repeat(np.arange(n_groups), per_group)]
    a = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, len(y)), 0, 1)
    return y, groups, a


def test_a_model_against_itself_differs_by_nothing_in_every_resample():
    y, groups, a = _scores(0)
    d = paired_group_bootstrap(y, groups, a, a.copy(), n=50)
    assert set(d) == {"auc", "real_high_default", "real_high_kyc", "generated_high_default", "generated_high_kyc"}
    for values in d.values():
        assert len(values) == 50 and np.all(values == 0)


def test_a_better_ranking_shows_as_a_positive_auc_difference_and_real_images_pushed_to_high_count():
    y, groups, a = _scores(1)
    better = np.where(y == 1, np.minimum(1, a + 0.2), a)  # generated images higher, real ones unchanged
    d = paired_group_bootstrap(y, groups, a, better, n=100)
    assert np.all(d["auc"] >= 0) and d["auc"].mean() > 0.01
    assert np.all(d["real_high_kyc"] == 0)  # no real image moved
    cut = high_cut("kyc")
    noisy = np.where(y == 0, np.maximum(a, cut), a)  # every real image at `high`
    d = paired_group_bootstrap(y, groups, a, noisy, n=20)
    assert d["real_high_kyc"].mean() == pytest.approx(1 - np.mean(a[y == 0] >= cut), abs=0.1)


def test_the_high_cut_is_where_the_classifier_alone_reaches_high():
    for policy in ("default", "kyc"):
        cut = high_cut(policy)
        assert real_at_level_high(np.array([cut + 1e-6]), np.array([0.0]), policy) == 1.0
        assert real_at_level_high(np.array([cut - 1e-3]), np.array([0.0]), policy) == 0.0
