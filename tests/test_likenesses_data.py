"""The likenesses corpus builder (synthcheck data likenesses): the photos machinery with label real
and a likeness category per file (statue, painting, drawing, mask, figurine, animal); reserved and
already-used sources refused by name before anything is fetched, files read at the pinned commit,
dedupe and caps; the shipped source table pinned, allowed, unique and apart from the photos corpus."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthcheck.datasets import generated, likenesses, photos, reserved
from synthcheck.datasets.records import load_manifest
from synthcheck.errors import SourceRefusedError

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
SHA = "0123456789abcdef0123456789abcdef01234567"


def _png(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _git(work: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(work), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _repo(repos: Path, repository: str = "someone/art") -> tuple[Path, str]:
    """A repository as the snapshot fetcher lays it out (DIR/OWNER+NAME/repo): statues and sketches,
    one file twice, one too small, photos of people beside them."""
    work = repos / repository.replace("/", "+") / "repo"
    work.mkdir(parents=True)
    _git(work, "init", "-q")
    for i in range(3):
        _png(work / "data" / "statues" / f"s{i}.png", (256, 256), seed=i)
    _png(work / "data" / "sketches" / "k0.png", (300, 240), seed=3)
    shutil.copyfile(work / "data/statues/s0.png", work / "data/statues/zz-copy.png")
    _png(work / "data" / "statues" / "thumb.png", (128, 128), seed=5)  # below MIN_SIDE
    _png(work / "data" / "content" / "person.png", (256, 256), seed=6)  # a photo of a person: not included
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "samples")
    return work, _git(work, "rev-parse", "HEAD")


def _source(commit: str, **kwargs) -> photos.PhotoSource:
    fields = dict(name="art-samples", repository="someone/art", commit=commit, category="statue", license="MIT",
                  include=("data/statues", "data/sketches"), categories=(("data/sketches/*", "drawing"),))
    fields.update(kwargs)
    return likenesses._source(**fields)


@needs_git
def test_a_likeness_source_writes_label_real_category_and_provenance(tmp_path):
    work, commit = _repo(tmp_path / "repos")
    manifest = likenesses.build(tmp_path / "corpus", [_source(commit)], repos=tmp_path / "repos", clone=False,
                                log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    assert list(rows[0]) == list(photos.MANIFEST_FIELDS)
    # s0..s2 and k0; the copy of s0, the thumbnail and the photo of a person left out
    assert sorted(r["repo_path"] for r in rows) == ["data/sketches/k0.png"] + [f"data/statues/s{i}.png"
                                                                               for i in range(3)]
    for row in rows:
        assert (row["label"], row["generator"], row["source"]) == ("real", "", "art-samples")
        assert (row["repository"], row["commit"], row["license"]) == ("someone/art", commit, "MIT")
        assert row["category"] == ("drawing" if "sketches" in row["repo_path"] else "statue")
        assert row["path"].startswith("real/art-samples/")
        assert row["sha256"] == photos.sha256_file(work / row["repo_path"]) == photos.sha256_file(
            manifest.parent / row["path"])
    records = load_manifest(manifest.parent)
    assert {r.label for r in records} == {0}
    assert {r.source for r in records} == {"art-samples"}  # one leave-source-out group
    assert {r.group for r in records} == {"art-samples:-"}  # no camera make in these PNGs


@needs_git
def test_dedupe_across_sources_and_the_cap(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    _, commit2 = _repo(tmp_path / "repos", "other/fork")  # the same files under another name
    first = _source(commit, cap=2)
    second = _source(commit2, name="fork-samples", repository="other/fork")
    manifest = likenesses.build(tmp_path / "corpus", [first, second], repos=tmp_path / "repos", clone=False,
                                log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    assert len({r["sha256"] for r in rows}) == len(rows) == 4
    firsts = [r for r in rows if r["source"] == "art-samples"]
    assert len(firsts) == 2 and [r["sha256"] for r in firsts] == sorted(r["sha256"] for r in rows)[:2]


@pytest.mark.parametrize("name", sorted(reserved.RESERVED_REPOSITORIES))
def test_reserved_repositories_are_refused_before_anything_is_fetched(tmp_path, name, monkeypatch):
    def no_fetching(*args, **kwargs):
        raise AssertionError("fetched a reserved source")

    monkeypatch.setattr(photos, "locate", no_fetching)
    monkeypatch.setattr(photos, "_clone", no_fetching)
    with pytest.raises(SourceRefusedError, match="reserved for evaluation"):
        likenesses.build(tmp_path / "corpus", [_source(SHA, repository=name)], repos=tmp_path / "repos",
                         log=lambda m: None)
    assert not (tmp_path / "repos").exists() and not (tmp_path / "corpus").exists()


def test_only_real_sources_with_a_likeness_category():
    with pytest.raises(ValueError, match="real sources only"):
        likenesses.build(Path("unused"), [photos.PhotoSource("x", "other", "MIT", repository="a/b", commit=SHA,
                                                             label="generated", generator="sdxl")])
    for source in (_source(SHA, category="people"), _source(SHA, categories=(("*", "city"),))):
        with pytest.raises(ValueError, match="likeness category"):
            likenesses.build(Path("unused"), [source])
    with pytest.raises(ValueError, match="category"):
        _source(SHA, category="portrait")  # not a category at all


def test_the_shipped_table_is_pinned_allowed_unique_real_and_capped():
    assert likenesses.SOURCES
    photos.refuse_forbidden(likenesses.SOURCES)
    assert not any(reserved.is_reserved(s.origin) for s in likenesses.SOURCES)
    names = [s.name for s in likenesses.SOURCES]
    assert len(set(names)) == len(names)
    assert not set(names) & {s.name for s in photos.SOURCES + generated.SOURCES}
    repositories = [s.repository.lower() for s in likenesses.SOURCES]
    assert len(set(repositories)) == len(repositories)  # one source per repository
    # new repositories only: the photos and generated corpora's are groups of their own
    assert not set(repositories) & {s.repository.lower() for s in photos.SOURCES + generated.SOURCES}
    for source in likenesses.SOURCES:
        assert source.label == "real" and not source.generator and source.license and source.note
        assert source.kind == "git" and len(source.commit) == 40 and source.include
        assert source.category in likenesses.CATEGORIES
        assert all(c in likenesses.CATEGORIES for _, c in source.categories)
        assert source.cap is not None and source.cap <= likenesses.CAP
    assert likenesses.CATEGORIES <= photos.CATEGORIES
    # the table covers statues, paintings, drawings and animals
    categories = {s.category for s in likenesses.SOURCES} | {c for s in likenesses.SOURCES for _, c in s.categories}
    assert {"statue", "painting", "drawing", "animal"} <= categories


def test_the_source_table_document_lists_every_source():
    text = (Path(__file__).resolve().parents[1] / "datasets" / "LIKENESSES.md").read_text()
    for source in likenesses.SOURCES:
        assert source.name in text and f"{source.repository} @ {source.commit}" in text


def test_the_cli_builds_the_likenesses_corpus_and_exits_2_when_a_repository_is_missing(tmp_path, monkeypatch,
                                                                                         capsys):
    from synthcheck.cli import main

    monkeypatch.setattr(photos, "_clone", lambda repos, repository, log: None)  # no network in tests
    assert main(["data", "likenesses", "--repos", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert likenesses.SOURCES[0].repository in err and "git clone" in err
    assert not (tmp_path / "out").exists()


@needs_git
def test_the_cli_writes_the_manifest(tmp_path, monkeypatch):
    from synthcheck.cli import main

    _, commit = _repo(tmp_path / "repos")
    monkeypatch.setattr(likenesses, "SOURCES", (_source(commit),))
    assert main(["data", "likenesses", "--repos", str(tmp_path / "repos"), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open()))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"real"}
    assert {r["category"] for r in rows} == {"statue", "drawing"}
