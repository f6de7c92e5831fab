"""Leave-source-out training (models/source_folds.py): every score comes from a head that never
saw the image's source, the temperature is fitted on those scores alone, and the views the
runtime scores are the views the head was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthcheck.datasets.records import ImageRecord
from synthcheck.models.card import Preprocessing
from synthcheck.models.clip_probe import CLIP_MEAN, CLIP_STD, global_batch
from synthcheck.models.crops import global_view
from synthcheck.training.source_folds import (
    CONDITIONS,
    cap_groups,
    corpus_tables,
    fold_of,
    held_out_probabilities,
    out_of_fold_logits,
    training_tags,
    view_transforms,
)

pytest.importorskip("torch")  # the heads are fitted with torch (the `train` extra)


def test_a_source_is_scored_only_by_heads_that_never_saw_it():
    """Features that only identify the source (one column per group, each group one label) are
    learnt perfectly in sample, and carry nothing out of fold: a head that saw the group would
    score it right, one that did not gives every unseen group the same score (its column was
    constant while training)."""
    groups = [f"s{g}" for g in range(20) for _ in range(10)]
    names = sorted(set(groups))
    y = np.array([int(g[1:]) % 2 for g in groups], float)
    identity = np.array([[float(g == n) for n in names] for g in groups])
    x = {tag: identity for tag in ("web0", *CONDITIONS)}
    logits, fold = out_of_fold_logits(x, y, groups, 5, ("centre",), ["clean", "laundered", "web0"], 0.01,
                                      log=lambda m: None)
    assert set(fold.tolist()) == set(range(5))
    for k in range(5):
        assert np.ptp(logits["clean"][fold == k]) < 1e-6  # nothing tells one unseen source from another
    from synthcheck.training.clip_features import fit_head  # in sample, the same features separate perfectly

    head = fit_head(identity, y, groups, 0.01)
    assert head(identity)[y == 1].min() > head(identity)[y == 0].max()


def test_each_fold_is_calibrated_on_the_other_folds_only():
    groups = [f"s{g}" for g in range(10) for _ in range(20)]
    y = np.array([int(g[1:]) % 2 for g in groups], float)
    fold = np.array([fold_of(g, 5) for g in groups])
    rng = np.random.default_rng(1)
    base = (y * 2 - 1) * 2 + rng.normal(0, 1, len(y))
    logits = {c: base.copy() for c in CONDITIONS}
    p = held_out_probabilities(logits, y, groups, fold)
    # scale one fold's logits 50x: its probabilities must move exactly as its logits do, at the
    # temperature it had before — fitted on the other folds, never on its own scores
    k = fold[0]
    changed = {c: np.where(fold == k, base * 50, base) for c in CONDITIONS}
    q = held_out_probabilities(changed, y, groups, fold)
    t_k = _t(p["clean"], base, fold == k)
    assert np.allclose(q["clean"][fold == k], 1 / (1 + np.exp(-base[fold == k] * 50 / t_k)))
    assert not np.allclose(q["clean"][fold != k], p["clean"][fold != k])  # the other folds' fits did see it


def _t(p: np.ndarray, z: np.ndarray, rows: np.ndarray) -> float:
    """The temperature that maps z to p on these rows."""
    i = np.flatnonzero(rows & (np.abs(z) > 0.5))[0]
    return float(z[i] / np.log(p[i] / (1 - p[i])))


def test_groups_are_capped_per_corpus_and_folds_are_stable(tmp_path: Path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "manifest.csv").write_text("path,label\n")
    records = [ImageRecord(path=root / f"{g}-{i}.jpg", label=0, source=g, generator="") for g in "ab" for i in range(7)]
    other = [ImageRecord(path=tmp_path / "other" / f"{i}.png", label=1, source="gen", generator="x") for i in range(9)]
    kept = cap_groups(records + other, {"photos": 3}, tmp_path)
    assert sum(r.source == "a" for r in kept) == 3 and sum(r.source == "b" for r in kept) == 3
    assert sum(r.source == "gen" for r in kept) == 9  # only the capped corpus is capped
    assert kept == cap_groups(records + other, {"photos": 3}, tmp_path)
    assert fold_of("a:x", 5) == fold_of("a:x", 5) and {fold_of(f"g{i}", 5) for i in range(50)} == set(range(5))


def test_another_partition_deals_the_groups_afresh():
    names = [f"g{i}" for i in range(200)]
    first, second = ([fold_of(g, 5, partition) for g in names] for partition in (0, 1))
    assert first == [fold_of(g, 5) for g in names]  # partition 0 is the shipped estimate's folds
    assert first != second and set(second) == set(range(5))


def test_real_images_are_reported_per_corpus(tmp_path: Path):
    """Artwork and photos fail differently: each corpus's real images get their own AUC and
    false alarms against every generated image."""
    photos, art, gen = (tmp_path / n for n in ("photos", "photos-art", "gen"))  # one name the other's prefix
    records = ([ImageRecord(path=photos / f"{i}.jpg", label=0, source="p", generator="") for i in range(4)]
               + [ImageRecord(path=art / f"{i}.png", label=0, source="a", generator="") for i in range(4)]
               + [ImageRecord(path=gen / f"{i}.png", label=1, source="g", generator="x") for i in range(4)])
    y = np.array([r.label for r in records], float)
    # photos sit far below every generated image, artwork above all but one and at `high` by itself
    p = {c: np.array([0.01] * 4 + [0.999, 0.999, 0.999, 0.2] + [0.5, 0.6, 0.7, 0.9999]) for c in CONDITIONS}
    table = corpus_tables(records, y, p, {"cache:data/photos": photos, "cache:data/artwork": art, "gen": gen})
    assert set(table) == {"cache:data/photos", "cache:data/artwork"}  # no real images, no row
    assert table["cache:data/photos"]["n_real"] == 4
    assert table["cache:data/photos"]["clean"]["auc_against_generated"] == 1.0
    assert table["cache:data/photos"]["clean"]["real_at_level_high"]["default"] == 0.0
    assert table["cache:data/artwork"]["clean"]["auc_against_generated"] < 0.5
    assert table["cache:data/artwork"]["clean"]["real_at_level_high"]["default"] == 0.75


def test_views_and_training_tags():
    tags = view_transforms(("centre", "global"), 224, seed=0, web_views=1)
    assert set(tags) == {p + c for p in ("", "g:") for c in (*CONDITIONS, "web0")}
    assert training_tags(("centre", "global"), 0, 1) == ["clean", "laundered", "web0",
                                                         "g:clean", "g:laundered", "g:web0"]
    assert "web0s1" in view_transforms(("centre",), 224, seed=1, web_views=1)  # another seed, another cache tag
    rgb = np.random.default_rng(0).integers(0, 255, (900, 1600, 3), dtype=np.uint8)
    g = tags["g:clean"](rgb, "key")
    assert min(g.shape[:2]) == 224 and g.shape[1] == round(1600 * 224 / 900)
    with pytest.raises(ValueError, match="views"):
        view_transforms(("everywhere",), 224, 0, 0)


def test_the_runtime_global_view_is_the_trained_one():
    """The runtime's global batch is the centre 224 of the same shrunk image the trainer encodes."""
    rgb = np.random.default_rng(2).integers(0, 255, (600, 1000, 3), dtype=np.uint8)
    prep = Preprocessing(crop_size=224, max_grid=1, mean=CLIP_MEAN, std=CLIP_STD, anchor="centre", global_view=True)
    batch = global_batch(rgb, prep)
    shrunk = global_view(rgb, 224)
    x0 = (shrunk.shape[1] - 224) // 2
    expected = (shrunk[:, x0:x0 + 224].astype(np.float32) / 255 - np.array(CLIP_MEAN, np.float32)) / np.array(
        CLIP_STD, np.float32)
    assert batch.shape == (1, 3, 224, 224)
    assert np.allclose(batch[0].transpose(1, 2, 0), expected, atol=1e-5)
