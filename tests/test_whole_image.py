"""The whole image (issue 31): the pooling rules, the grid's reach, and the aligned partial
fakes that measure the region map (datasets/partial.py)."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.datasets.partial import centre_box, corner_box, feather_mask, inside, paste, regenerate
from synthcheck.models.card import Preprocessing
from synthcheck.models.crops import crop_grid, grid_shape
from synthcheck.models.pooling import POOLINGS, image_logit

WHOLE = Preprocessing(crop_size=224, cell=512, max_crops=30, anchor="centre", global_view=True, encode_together=True)


def test_each_rule_pools_the_crops_then_averages_with_the_global_view():
    crops = np.array([-4.0, 1.0, 2.0, 3.0])
    assert image_logit("mean", crops) == pytest.approx(0.5)
    assert image_logit("max", crops, global_logit=1.0) == pytest.approx(2.0)
    assert image_logit("upper_quartile", crops) == pytest.approx(np.quantile(crops, 0.75))
    soft = image_logit("soft_max", crops)
    assert image_logit("mean", crops) < soft < image_logit("max", crops)
    assert image_logit("soft_max", np.array([2.0, 2.0])) == pytest.approx(2.0)  # crops that agree: their value
    assert set(POOLINGS) == {"mean", "max", "upper_quartile", "soft_max"}


def test_a_real_patch_over_one_crop_cannot_hide_the_rest_under_a_maximum():
    generated_elsewhere = np.array([-9.0, 2.5, 2.5, 2.5])  # the patched crop says real, loudly
    assert image_logit("mean", generated_elsewhere) < 0 < image_logit("max", generated_elsewhere)


@pytest.mark.parametrize("height, width", [(1000, 1000), (768, 1024), (3024, 4032), (6000, 8000), (300, 5000)])
def test_the_grid_always_has_a_crop_in_every_corner_and_respects_its_cap(height, width):
    rows, cols, corners = crop_grid(height, width, WHOLE)
    assert rows * cols == len(corners) <= 30
    ys, xs = {y for y, _ in corners}, {x for _, x in corners}
    for starts, extent, n in ((ys, height, rows), (xs, width, cols)):
        if n > 1:  # from edge to edge
            assert min(starts) == 0 and max(starts) == extent - 224
        else:  # a lone row or column is centred
            assert starts == {(extent - 224) // 2}


def test_the_grid_follows_the_cell_until_the_cap():
    assert grid_shape(1000, 1000, WHOLE) == (2, 2)  # 1 MP: a crop in each corner
    assert grid_shape(480, 640, WHOLE) == (1, 2)
    assert grid_shape(200, 200, WHOLE) == (1, 1)
    rows, cols = grid_shape(3024, 4032, WHOLE)  # 12 MP: 6x8 asked, capped to 30, cells kept near square
    assert rows * cols <= 30 and abs(3024 / rows - 4032 / cols) < 200


def test_a_pasted_patch_fades_in_and_covers_its_box():
    host = np.zeros((400, 400, 3), np.uint8)
    patch = np.full((100, 100, 3), 200, np.uint8)
    box = corner_box(400, 400, 100, "bottom-right")
    out = paste(host, patch, box, feather=10)
    assert box == (300, 300, 100, 100)
    assert out[350, 350, 0] == 200 and out[300, 300, 0] < 50 and out[299, 299, 0] == 0
    assert feather_mask(20, 20, 5)[10, 10] == 1 and feather_mask(20, 20, 5)[0, 0] == pytest.approx(0.2)
    assert out[:300, :300].max() == 0  # nothing outside the box changes


def test_a_regenerated_region_changes_only_that_region():
    host = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    box = centre_box(256, 256, 64)
    out = regenerate(host, box, lambda region: 255 - region)
    x, y, w, h = box
    assert (out[y:y + h, x:x + w] == 255 - host[y:y + h, x:x + w]).all()
    out[y:y + h, x:x + w] = host[y:y + h, x:x + w]
    assert (out == host).all()
    with pytest.raises(ValueError, match="multiples of 8"):
        regenerate(host, (0, 0, 60, 64), lambda region: region)


def test_the_share_of_a_crop_inside_a_region():
    assert inside((0, 0, 224, 224), (0, 0, 320, 320)) == 1.0
    assert inside((776, 0, 224, 224), (0, 0, 320, 320)) == 0.0
    assert inside((200, 0, 224, 224), (0, 0, 320, 320)) == pytest.approx(120 / 224)


def _classifier_with_region_head(tmp_path):
    """The shipped card with a region head, and two heads on 2-D features: the main head reads the
    first feature, the region head the second."""
    from dataclasses import replace

    from safetensors.numpy import save_file

    from synthcheck.models.clip_probe import ProbeHead
    from synthcheck.models.registry import DEFAULT_MODEL, MODELS_DIR, ModelCard

    card = ModelCard.load(MODELS_DIR / DEFAULT_MODEL / "card.json")
    card = replace(card, pooling="max", temperature=1.0, region_head=True, region_temperature=2.0, region_bias=-1.0,
                   members=(replace(card.members[0], bias=0.0),))
    ones = np.ones(2)
    main = ProbeHead(np.array([1.0, 0.0]), 0.0, np.zeros(2), ones)
    region = ProbeHead(np.array([0.0, 1.0]), 0.0, np.zeros(2), ones)
    weights = tmp_path / "model.safetensors"
    save_file({**main.tensors(card.members[0].name), **region.tensors("region")}, str(weights))
    return card, main, region, weights


def test_the_region_map_comes_from_the_region_head_and_the_score_from_the_main_head(tmp_path):
    from synthcheck.models.clip_probe import ClipProbeClassifier

    card, main, region, _ = _classifier_with_region_head(tmp_path)
    crops = np.array([[-3.0, 4.0], [-1.0, -4.0]])  # crop 0: the main head says real, the region head "edited"
    result = ClipProbeClassifier(card, None, main, region).predict_encoded(1, 2, crops, np.array([-2.0, 0.0]))
    # the image's score: the main head's crops pooled by the maximum (-1) with the global view's (-2)
    assert result.p_generated == pytest.approx(1 / (1 + np.exp(1.5)), abs=1e-3)
    # the map: the region head's logits, shifted by the region bias, at the region temperature
    assert result.regions[0][0] == pytest.approx(1 / (1 + np.exp(-1.5)), abs=1e-3)
    assert result.regions[0][1] == pytest.approx(1 / (1 + np.exp(2.5)), abs=1e-3)
    without = ClipProbeClassifier(card, None, main).predict_encoded(1, 2, crops, np.array([-2.0, 0.0]))
    assert without.regions[0][0] == pytest.approx(1 / (1 + np.exp(3.0)), abs=1e-3)  # no region head: the main's


def test_a_card_naming_a_region_head_its_weights_lack_is_refused(tmp_path):
    from safetensors.numpy import save_file

    from synthcheck.errors import ModelError
    from synthcheck.models.clip_probe import load_clip_probe

    card, main, _, weights = _classifier_with_region_head(tmp_path)
    save_file(main.tensors(card.members[0].name), str(weights))
    with pytest.raises(ModelError, match="no region tensors"):
        load_clip_probe(card, weights)


# The three real photos of 1 MP and more in ../shared/data with content (the fourth is a white
# frame): a corner regenerated through TAEF2, the FLUX.2 autoencoder (no paste line, only the
# decoder's trace), must top the shipped model's region map. Held out by source, the map's top
# crop lies in such a corner in 82.5% of 200 real photos (the card's patch tests); these are the
# training's own photos, so this checks that the runtime reads the map as trained (clip-v7 and v6
# 12 of 12; synthcheck-clip-v5, whose map was its main head's crops, 9 of 12).
PHOTOS_OF_A_MEGAPIXEL = ("real/imagenet/n03843555_oil_filter.JPEG", "real/camera/Issue_308.jpg",
                         "real/photoprism/telegram_2020-01-30_09-57-18.jpg")


def test_a_corner_regenerated_through_the_autoencoder_tops_the_region_map():
    pytest.importorskip("torch")
    from synthcheck.datasets.partial import CORNERS
    from synthcheck.datasets.records import ImageRecord, load_pixels
    from synthcheck.models import load_classifier
    from synthcheck.training.grid_folds import taef2_reconstructor

    from .conftest import shared_or_skip

    reconstruct = taef2_reconstructor(shared_or_skip("weights", "taef2"))
    model = load_classifier()
    assert model.region_head is not None  # the default's map has its own head (card.region_head)
    hits, cases = 0, 0
    for name in PHOTOS_OF_A_MEGAPIXEL:
        photo = load_pixels(ImageRecord(shared_or_skip("data", *name.split("/")), 0, "real", ""))
        h, w = photo.shape[:2]
        _, _, corners = crop_grid(h, w, model.card.preprocessing)
        crops = [(x, y, 224, 224) for y, x in corners]
        for corner in CORNERS:
            box = corner_box(h, w, 320, corner)
            regions = np.array(model.predict(regenerate(photo, box, reconstruct)).regions).ravel()
            hits += inside(crops[int(np.argmax(regions))], box) >= 0.5
            cases += 1
    assert hits >= 11, f"the regenerated corner topped the map in {hits} of {cases}"  # v5, no region head: 9


@pytest.mark.parametrize("height, width", [(300, 1100), (1100, 300), (600, 1400)])
def test_a_panorama_gets_one_global_view_and_a_map_cell_per_crop(height, width):
    # the global view of an image more than 2.3 times as long as it is high is wider than a cell: it
    # must stay one centre crop, not be cut into the grid's crops (it once was, and the map failed)
    from synthcheck.models import load_classifier
    from synthcheck.models.clip_probe import global_batch

    model = load_classifier()
    prep = model.card.preprocessing
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert global_batch(rgb, prep).shape[0] == 1
    rows, cols, crops, whole = model.encode(rgb)
    assert len(crops) == rows * cols == len(crop_grid(height, width, prep)[2]) and whole is not None
    result = model.predict(rgb)
    assert np.array(result.regions).shape == (rows, cols)


def test_an_image_of_one_crops_size_is_encoded_once_as_its_own_global_view():
    """A 224x224 image (the faces check's background windows, a small upload) is its own
    global view: one pass of one crop, read as both views; larger images keep both views."""
    from synthcheck.models.clip_probe import encode_views

    batches = []

    def encoder(batch: np.ndarray) -> dict:
        batches.append(len(batch))
        return {"cls": np.repeat(batch.mean(axis=(2, 3))[:, None, :], 12, axis=1)}  # [n, 12 blocks, 3]

    rng = np.random.default_rng(0)
    rows, cols, crops, whole = encode_views(encoder, WHOLE, "cls", rng.integers(0, 256, (224, 224, 3), np.uint8))
    assert batches == [1] and (rows, cols) == (1, 1) and np.array_equal(crops[0], whole)
    batches.clear()
    _, _, crops, whole = encode_views(encoder, WHOLE, "cls", rng.integers(0, 256, (300, 300, 3), np.uint8))
    assert batches == [2] and len(crops) == 1 and not np.array_equal(crops[0], whole)
