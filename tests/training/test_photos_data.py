"""The photos corpus builder (synthcheck data photos): reserved and already-used sources refused
by name before anything is fetched, repositories read at their pinned commit with provenance per
file, missing repositories and commits named, deduplication, the size filter and caps."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthcheck.datasets import artwork, photos, reserved
from synthcheck.datasets.records import load_manifest
from synthcheck.errors import ConfigurationError, RepositoryMissingError, RevisionMissingError, SourceRefusedError

from ..conftest import shared_or_skip

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
SHA = "0123456789abcdef0123456789abcdef01234567"


def _jpeg(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def _git(work: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(work), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _repo(repos: Path, repository: str = "someone/photos") -> tuple[Path, str]:
    """A git repository laid out as the snapshot fetcher lays them out (DIR/OWNER+NAME/repo), with
    photos in and out of the wanted folder, a duplicate, a small icon and a broken file."""
    work = repos / repository.replace("/", "+") / "repo"
    work.mkdir(parents=True)
    _git(work, "init", "-q")
    for i in range(3):
        _jpeg(work / "samples" / "people" / f"p{i}.jpg", (320, 240), seed=i)
    _jpeg(work / "samples" / "food" / "soup.jpg", (300, 300), seed=7)
    shutil.copyfile(work / "samples/people/p0.jpg", work / "samples/people/zz-copy.jpg")  # the same bytes twice
    _jpeg(work / "samples" / "people" / "icon.jpg", (100, 300), seed=8)  # shorter side below MIN_SIDE
    (work / "samples" / "people" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    _jpeg(work / "docs" / "logo.jpg", (400, 400), seed=9)  # not included
    (work / "LICENSE").write_text("MIT License\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "photos")
    return work, _git(work, "rev-parse", "HEAD")


def _source(commit: str, **kwargs) -> photos.PhotoSource:
    fields = dict(name="some-photos", category="people", license="MIT", repository="someone/photos", commit=commit,
                  include=("samples",), categories=(("samples/food/*", "food"),))
    fields.update(kwargs)
    return photos.PhotoSource(**fields)


@needs_git
def test_a_repository_source_gives_rows_with_its_commit_path_license_and_sha256(tmp_path):
    work, commit = _repo(tmp_path / "repos")
    manifest = photos.build(tmp_path / "corpus", [_source(commit)], repos=tmp_path / "repos", clone=False,
                            log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    # p0..p2 and the soup; the copy of p0, the icon, the broken file and docs/ left out
    assert sorted(r["repo_path"] for r in rows) == ["samples/food/soup.jpg", "samples/people/p0.jpg",
                                                    "samples/people/p1.jpg", "samples/people/p2.jpg"]
    for row in rows:
        original = work / row["repo_path"]
        stored = manifest.parent / row["path"]
        assert row["sha256"] == photos.sha256_file(original) == photos.sha256_file(stored)
        assert (row["repository"], row["commit"], row["license"], row["label"]) == (
            "someone/photos", commit, "MIT", "real")
        assert row["source"] == "some-photos" and row["path"].startswith("real/some-photos/")
        assert row["category"] == ("food" if "/food/" in row["repo_path"] else "people")
    assert list(rows[0]) == list(photos.MANIFEST_FIELDS)
    assert list(photos.MANIFEST_FIELDS[:len(artwork.MANIFEST_FIELDS)]) == list(artwork.MANIFEST_FIELDS)
    # records are grouped by source, so a leave-source-out split can hold the whole source out
    assert {r.group for r in load_manifest(manifest.parent)} == {"some-photos:-"}


@needs_git
def test_the_file_is_read_at_the_pinned_commit_not_from_the_work_tree(tmp_path):
    work, commit = _repo(tmp_path / "repos")
    _jpeg(work / "samples" / "people" / "p1.jpg", (320, 240), seed=99)  # changed after the pinned commit
    _git(work, "commit", "-q", "-am", "later")
    (work / "samples" / "people" / "p2.jpg").unlink()  # and a dirty work tree
    manifest = photos.build(tmp_path / "corpus", [_source(commit)], repos=tmp_path / "repos", clone=False,
                            log=lambda m: None)
    by_path = {r["repo_path"]: r for r in csv.DictReader(manifest.open())}
    assert "samples/people/p2.jpg" in by_path
    pinned = _git(work, "rev-parse", f"{commit}:samples/people/p1.jpg")
    blob = subprocess.run(["git", "-C", str(work), "cat-file", "blob", pinned], capture_output=True, check=True).stdout
    assert (manifest.parent / by_path["samples/people/p1.jpg"]["path"]).read_bytes() == blob


@needs_git
def test_duplicates_across_sources_are_kept_once_and_caps_sample_by_content(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    _, commit2 = _repo(tmp_path / "repos", "other/mirror")  # the same files under another name
    first = _source(commit, cap=2)
    second = _source(commit2, name="mirror", repository="other/mirror")
    manifest = photos.build(tmp_path / "corpus", [first, second], repos=tmp_path / "repos", clone=False,
                            log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    assert len({r["sha256"] for r in rows}) == len(rows) == 4  # each unique usable photo once
    firsts = [r for r in rows if r["source"] == "some-photos"]
    assert len(firsts) == 2 and [r["sha256"] for r in firsts] == sorted(r["sha256"] for r in rows)[:2]
    # what the cap left out of the first source the second may still take
    assert {r["source"] for r in rows} == {"some-photos", "mirror"}


@needs_git
def test_min_side_and_undecodable_files_are_filtered(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    source = _source(commit, include=("samples/people",))
    manifest = photos.build(tmp_path / "corpus", [source], repos=tmp_path / "repos", clone=False, log=lambda m: None)
    paths = {r["repo_path"] for r in csv.DictReader(manifest.open())}
    assert paths == {"samples/people/p0.jpg", "samples/people/p1.jpg", "samples/people/p2.jpg"}
    assert photos.inspect(tmp_path / "repos/someone+photos/repo/samples/people/icon.jpg") is None
    assert photos.inspect(tmp_path / "repos/someone+photos/repo/samples/people/broken.jpg") is None


@needs_git
def test_a_missing_repository_is_named_with_how_to_get_it(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    sources = [_source(commit), _source(SHA, name="absent", repository="nobody/absent-photos")]
    with pytest.raises(RepositoryMissingError, match="nobody/absent-photos") as error:
        photos.build(tmp_path / "corpus", sources, repos=tmp_path / "repos", clone=False, log=lambda m: None)
    assert "git clone" in str(error.value) and "someone/photos" not in str(error.value).split(":")[1]
    assert isinstance(error.value, ConfigurationError)  # the CLI exits 2
    assert not (tmp_path / "corpus").exists()  # checked before anything is written


@needs_git
def test_a_wrong_commit_is_a_clear_error(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    with pytest.raises(RevisionMissingError, match=f"does not hold commit {SHA}"):
        photos.build(tmp_path / "corpus", [_source(SHA)], repos=tmp_path / "repos", clone=False, log=lambda m: None)
    assert not (tmp_path / "corpus").exists()


def test_the_cli_exits_2_and_names_the_missing_repositories(tmp_path, monkeypatch, capsys):
    from synthcheck.cli import main

    monkeypatch.setattr(photos, "_clone", lambda repos, repository, log: None)  # no network in tests
    first = next(s for s in photos.SOURCES if s.kind == "git")
    assert main(["data", "photos", "--repos", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert first.repository in err and "git clone" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(reserved.RESERVED_REPOSITORIES))
def test_reserved_repositories_are_refused_before_anything_is_fetched(tmp_path, name, monkeypatch):
    def no_fetching(*args, **kwargs):
        raise AssertionError("fetched a reserved source")

    monkeypatch.setattr(photos, "locate", no_fetching)
    monkeypatch.setattr(photos, "_clone", no_fetching)
    source = _source(SHA, repository=name)
    with pytest.raises(SourceRefusedError, match="reserved for evaluation"):
        photos.build(tmp_path / "corpus", [source], repos=tmp_path / "repos", log=lambda m: None)
    assert not (tmp_path / "repos").exists() and not (tmp_path / "corpus").exists()


@pytest.mark.parametrize("package,kind", [*((p, "deb") for p in sorted(reserved.RESERVED_DEBIAN_PACKAGES)),
                                          ("scikit-learn", "wheel"), ("matplotlib", "wheel")])
def test_reserved_packages_are_refused_before_anything_is_fetched(tmp_path, package, kind, monkeypatch):
    monkeypatch.setattr(artwork, "download", lambda *a, **k: pytest.fail("downloaded a reserved package"))
    source = photos.PhotoSource("x", "other", "x", package=package, version="1.0", kind=kind)
    with pytest.raises(SourceRefusedError, match="reserved for evaluation"):
        photos.build(tmp_path / "corpus", [source], download_dir=tmp_path / "archives", log=lambda m: None)
    assert not (tmp_path / "archives").exists()


def test_reserved_names_match_however_they_are_spelled():
    for spelling in ("TencentARC/GFPGAN", "tencentarc/gfpgan", "https://github.com/TencentARC/GFPGAN.git",
                     "github:TencentARC/GFPGAN", "git@github.com:TencentARC/GFPGAN"):
        assert reserved.is_reserved(spelling)
    assert not reserved.is_reserved("TencentARC/GFPGAN-other")
    # one definition: the artwork command refuses the same names
    assert artwork.RESERVED_FOR_EVALUATION is reserved.RESERVED_FOR_EVALUATION
    assert reserved.RESERVED_WALLPAPERS < reserved.RESERVED_DEBIAN_PACKAGES


def test_reserved_md_and_the_reserved_set_agree():
    """Every name in ../shared/RESERVED.md is in the set (skipped where ../shared is absent)."""
    text = shared_or_skip("RESERVED.md").read_text()
    listed = text.split("## Public repositories")[1].splitlines()[1:]  # after the heading
    repositories = {line.split()[0].lower() for line in listed if line.strip() and not line.startswith("#")}
    assert repositories and repositories <= reserved.RESERVED_REPOSITORIES
    debian = text.split("## Debian packages")[1].split("##")[0]
    assert {p.strip() for p in debian.replace("\n", " ").split(",") if p.strip()} <= reserved.RESERVED_DEBIAN_PACKAGES


def test_sources_already_in_shared_are_refused():
    with pytest.raises(SourceRefusedError, match="already a source"):
        photos.refuse_forbidden([_source(SHA, repository="serengil/deepface")])


def test_the_shipped_table_is_pinned_allowed_and_unique():
    assert photos.SOURCES
    photos.refuse_forbidden(photos.SOURCES)
    assert len({s.name for s in photos.SOURCES}) == len(photos.SOURCES)
    for source in photos.SOURCES:
        assert source.license and source.category in photos.CATEGORIES
        if source.kind == "git":
            assert len(source.commit) == 40 and source.include
        else:
            assert source.version


def test_a_source_needs_a_pinned_commit_and_a_known_category():
    with pytest.raises(ValueError, match="40-hex commit"):
        photos.PhotoSource("x", "people", "MIT", repository="a/b", commit="main")
    with pytest.raises(ValueError, match="category"):
        photos.PhotoSource("x", "selfies", "MIT", repository="a/b", commit=SHA)
