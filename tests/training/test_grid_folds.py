"""The whole-image trainer (training/grid_folds.py): how crops and global views are weighed,
how the pooling rules are compared on the patch tests, and what the card says of them."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.training.grid_folds import (
    Encoded,
    PartialFake,
    PatchCase,
    compare_poolings,
    fit,
    group_balanced,
    partial_rows,
    patch_summary,
    pooled_term,
    region_around,
    row_matrix,
    scored_by,
)
from synthcheck.training.source_folds import CONDITIONS

pytest.importorskip("torch")  # held_out_probabilities fits temperatures with torch (the `train` extra)

NO_VIEWS = Encoded(np.zeros((0, 4), np.float16), np.zeros(4, np.float16))  # cases whose logits are given


def test_every_class_weighs_half_and_every_group_the_same_within_it():
    y = np.array([0, 0, 0, 1, 1, 0], float)
    groups = ["a", "a", "a", "b", "c", "d"]
    w = group_balanced(y, groups)
    assert w[y == 0].sum() == pytest.approx(0.5) and w[y == 1].sum() == pytest.approx(0.5)
    assert w[:3].sum() == pytest.approx(w[5])  # group a (3 images) weighs what group d (1 image) weighs


def test_an_images_crops_share_half_its_weight_and_the_global_view_has_the_other_half():
    d = 4
    encoded = {"clean": [Encoded(np.ones((n, d), np.float16), np.zeros(d, np.float16)) for n in (1, 4)]}
    x, labels, weights = row_matrix(encoded, np.array([0, 1]), ["clean"], np.array([0.0, 1.0]), ["r", "g"])
    assert x.shape == (1 + 1 + 4 + 1, d) and x.dtype == np.float32
    assert weights.sum() == pytest.approx(1.0)
    # the generated image: four crops of 1/16 each and its global view 1/4
    assert weights[2:6] == pytest.approx([1 / 16] * 4) and weights[6] == pytest.approx(0.25)
    assert labels.tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_partial_fakes_weigh_their_share_half_per_class_and_leave_out_crops_astride_the_edge():
    d = 3
    one = PartialFake(0, "regenerated", Encoded(np.eye(4, d, dtype=np.float16), np.zeros(d, np.float16)),
                      np.array([1, 0, 0, -1]))
    two = PartialFake(1, "pasted", Encoded(np.ones((2, d), np.float16), np.zeros(d, np.float16)), np.array([0, 1]))
    x, labels, weights = partial_rows([one, two], 0.2)
    assert len(x) == 5  # the crop astride the region's edge is left out
    assert weights.sum() == pytest.approx(0.2)
    assert weights[labels == 1].sum() == pytest.approx(0.1) and weights[labels == 0].sum() == pytest.approx(0.1)
    # each composite the same share of a class, however many of its crops are of it
    assert weights[labels == 0][:2].sum() == pytest.approx(weights[labels == 0][2])


def test_the_region_around_a_crop_holds_it_and_lies_on_the_latent_stride():
    import random

    rng = random.Random(0)
    for crop in [(0, 0, 224, 224), (800, 800, 224, 224), (400, 37, 224, 224)]:
        for _ in range(20):
            x, y, w, h = region_around(crop, 1024, 1024, rng)
            assert x % 8 == y % 8 == w % 8 == h % 8 == 0
            assert 0 <= x and 0 <= y and x + w <= 1024 and y + h <= 1024
            # the crop lies in the region (up to the 7 px the stride can cut at its far edge)
            assert x <= crop[0] and y <= crop[1] and x + w >= crop[0] + crop[2] - 7 and y + h >= crop[1] + crop[3] - 7


def test_cases_are_scored_by_the_head_they_are_given():
    views = Encoded(np.array([[1.0, 0], [0, 1]], np.float16), np.array([1.0, 1.0], np.float16))
    case = PatchCase("regenerated_corner", 0, (0, 0, 8, 8), [(0, 0, 8, 8), (8, 0, 8, 8)], views, views)

    def head(x):
        return x @ np.array([2.0, -1.0])

    (scored,) = scored_by(head, [case])
    assert scored.patched[0].tolist() == [2.0, -1.0] and scored.patched[1] == pytest.approx(1.0)


def _scored(n: int, rng) -> tuple[dict, np.ndarray, list[str], np.ndarray]:
    """Images whose crops all agree with their label, in 10 groups of 2 folds."""
    y = np.array([i % 2 for i in range(n)], float)
    groups = [f"g{i % 10}" for i in range(n)]
    fold = np.array([i % 10 % 2 for i in range(n)])
    scored = {c: [((2 * y[i] - 1) * 3 + rng.normal(0, 1, 4), float((2 * y[i] - 1) * 3)) for i in range(n)]
              for c in CONDITIONS}
    return scored, y, groups, fold


def test_a_rule_that_lets_a_real_patch_hide_a_generated_image_is_not_chosen():
    rng = np.random.default_rng(0)
    scored, y, groups, fold = _scored(80, rng)
    box = (352, 352, 320, 320)
    crops = [(0, 0, 224, 224), (800, 0, 224, 224), (0, 800, 224, 224), (800, 800, 224, 224)]
    # a generated image whose patched crop says "real" strongly and the others "generated" mildly:
    # the mean sinks below 0, the maximum does not
    cases = [PatchCase("real_patch_centre", 1, box, crops, NO_VIEWS, NO_VIEWS,
                       (np.array([-20.0, 1.5, 1.5, 1.5]), 0.5), (np.array([3.0, 3.0, 3.0, 3.0]), 3.0))
             for _ in range(10)]
    table, chosen = compare_poolings(("mean", "max"), scored, y, groups, fold, cases)
    assert table["mean"]["patch_tests"]["real_patch_centre"]["kept_share"] == 0.0
    assert table["max"]["patch_tests"]["real_patch_centre"]["kept_share"] == 1.0
    assert chosen == "max"


def test_the_region_hit_is_the_most_suspicious_crop_lying_in_the_region():
    box = (0, 0, 320, 320)
    crops = [(0, 0, 224, 224), (776, 0, 224, 224), (0, 776, 224, 224), (776, 776, 224, 224)]
    hit = PatchCase("generated_patch_corner", 0, box, crops, NO_VIEWS, NO_VIEWS,
                    (np.array([2.0, -3, -3, -3]), -2.0), (np.array([-3.0, -3, -3, -3]), -3.0))
    miss = PatchCase("generated_patch_corner", 1, box, crops, NO_VIEWS, NO_VIEWS,
                     (np.array([-3.0, 1, -3, -3]), -2.0), (np.array([-3.0, -3, -3, -3]), -3.0))
    summary = patch_summary([hit, miss], "max", 1.0)["generated_patch_corner"]
    assert summary["top_crop_in_region"] == 1 and summary["hit_share"] == 0.5
    assert summary["mean_rise"] > 0 and summary["newly_at_least_half"] == 1


def test_the_card_for_people_shows_the_grid_the_rules_and_the_patch_tests():
    from pathlib import Path

    from synthcheck.datasets.records import ImageRecord
    from synthcheck.models.card import Member, ModelCard, Preprocessing
    from synthcheck.training.grid_folds import render_readme
    from synthcheck.training.source_folds import estimate_tables, held_out_probabilities

    rng = np.random.default_rng(0)
    scored, y, groups, fold = _scored(40, rng)
    records = [ImageRecord(Path(f"/x/{i}.png"), int(y[i]), groups[i], "") for i in range(40)]
    table, chosen = compare_poolings(("mean", "max"), scored, y, groups, fold, [])
    logits = {c: np.array([np.mean(crops) for crops, _ in scored[c]]) for c in CONDITIONS}
    estimate = estimate_tables(records, y, held_out_probabilities(logits, y, groups, fold))
    estimate.update(poolings=table, patch_tests={})
    card = ModelCard(
        name="synthcheck-clip-test", version="0.0.1", architecture="clip-vit-b16-probe",
        preprocessing=Preprocessing(crop_size=224, cell=512, max_crops=30, global_view=True, encode_together=True),
        members=(Member(name="clip", weight=1.0, kind="clip_probe", backbone="clip-vit-b16",
                        backbone_variant="int8", backbone_sha256="0" * 64, features="cls"),),
        temperature=1.0, threshold=0.5, weights_file="model.safetensors", weights_sha256="0" * 64, pooling=chosen,
        training={"config": {"name": "synthcheck-clip-test"}, "manifests_sha256": {}, "images": 40, "groups": 10,
                  "training_views": ["clean"], "wall_clock_minutes": 1.0,
                  "backbone": {"upstream": "u", "license": "MIT", "package": "p", "version": "1", "member": "m",
                               "member_sha256": "0", "wheel": "w", "wheel_sha256": "0", "variant": "int8",
                               "converted_sha256": "0"}},
        metrics={"folds": 2, "leave_source_out": estimate})
    text = render_readme(card)
    assert "every 512 px from edge to edge" in text and "at most 30" in text
    assert f"| {chosen} (shipped) |" in text and "| mean" in text
    assert text.index("## Whole image") < text.index("## License")


def test_the_region_bias_lights_no_more_real_images_than_the_main_head_did():
    from synthcheck.training.grid_folds import OutOfFold, region_scaling_of

    y = np.array([0, 0, 0, 0, 1], float)
    main = [np.array([-2.0, 0.5]), np.array([-1.0, -3.0]), np.array([-1.0, -1.0]), np.array([-4.0, -2.0]),
            np.array([3.0, 3.0])]  # the main head lights one real image of four
    region = [np.array([-1.0, 2.0]), np.array([1.3, -3.0]), np.array([0.4, -1.0]), np.array([-4.0, -2.0]),
              np.array([3.0, 3.0])]  # the region head, unshifted, would light three
    oof = OutOfFold({c: [(z, 0.0) for z in main] for c in CONDITIONS}, [], {c: list(region) for c in CONDITIONS},
                    np.array([2.0, -2.0, 1.0, -1.0]), np.array([1, 0, 1, 0]))
    temperature, bias = region_scaling_of(oof, y)
    lit = sum(bool((z + bias >= 0).any()) for z, label in zip(region, y) if label == 0)
    assert lit == 1 and bias == pytest.approx(-1.4)  # the largest step of 0.1 that keeps the second image dark
    assert temperature > 0


def test_the_pooled_term_names_each_real_images_rows_in_row_matrix_order():
    d = 3
    encoded = {tag: [Encoded(np.ones((n, d), np.float16), np.zeros(d, np.float16)) for n in (2, 1, 3)]
               for tag in ("clean", "laundered")}
    y, groups = np.array([0.0, 1.0, 0.0]), ["r1", "g", "r2"]
    x, _, _ = row_matrix(encoded, np.array([0, 1, 2]), ["clean", "laundered"], y, groups)
    term = pooled_term(encoded, np.array([0, 1, 2]), ["clean", "laundered"], y, groups, 0.2, 0.5, extra_rows=2)
    assert len(term.row_image) == len(x) + 2
    # per tag: real image 0 (2 crops, global), the generated image (left out), real image 2 (3 crops, global)
    one_tag = [0, 0, 0, -1, -1, 1, 1, 1, 1]
    assert term.row_image.tolist() == one_tag + [i + 2 if i >= 0 else -1 for i in one_tag] + [-1, -1]
    assert term.row_is_crop.tolist()[:9] == [True, True, False, True, False, True, True, True, False]
    assert term.image_label.tolist() == [0, 0, 0, 0]  # real images only
    assert term.image_weight.sum() == pytest.approx(1.0)
    assert term.image_weight == pytest.approx([0.25] * 4)  # two groups of one image, two tags


def test_the_pooled_term_pushes_down_a_real_photos_worst_crop():
    """One real photo has one crop that looks generated along feature 0 and is the only crop with
    feature 1: the per-crop loss weighs that crop as one of many, the pooled term as the image's
    score, so the head learns to use feature 1 against it and the photo's pooled logit falls."""
    rng = np.random.default_rng(0)
    encoded: dict[str, list[Encoded]] = {"clean": []}
    y = []
    for n in range(40):
        label = n % 2
        crops = np.c_[rng.normal(1.0 if label else -1.0, 0.3, (4, 1)), np.zeros((4, 1))]
        if n == 0:
            crops[0] = [1.2, 1.0]  # the real photo's worst crop
        encoded["clean"].append(Encoded(crops.astype(np.float16), np.r_[crops[:, 0].mean(), 0].astype(np.float16)))
        y.append(label)
    y_arr, groups, images = np.array(y, float), [f"s{n}" for n in range(40)], np.arange(40)

    def worst(pooled_weight: float) -> float:
        head = fit(encoded, images, ["clean"], y_arr, groups, 0.01, pooled_weight=pooled_weight)
        return float(head(encoded["clean"][0].crops.astype(np.float64)).max())

    assert worst(0.5) < worst(0.0) - 0.5


def test_a_features_kind_other_than_cls_gets_its_own_cache_files_and_cls_keeps_the_old_ones():
    from synthcheck.training.grid_folds import feature_tag

    assert feature_tag("cls") == ""  # caches written before the patch tokens stay valid
    assert feature_tag("cls+patch_mean") != feature_tag("cls+patch_mean+patch_std") != ""
