"""The generated corpus builder (synthcheck data generated): the photos machinery with label
generated and a generator per source; reserved and already-used sources refused by name before
anything is fetched, files read at the pinned commit, dedupe and caps, records grouped by
source:generator."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthcheck.datasets import generated, photos, reserved
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


def _repo(repos: Path, repository: str = "someone/model") -> tuple[Path, str]:
    """A model repository as the snapshot fetcher lays it out (DIR/OWNER+NAME/repo): outputs in
    assets/outputs (one twice, one too small), inputs and a figure beside them."""
    work = repos / repository.replace("/", "+") / "repo"
    work.mkdir(parents=True)
    _git(work, "init", "-q")
    for i in range(4):
        _png(work / "assets" / "outputs" / f"o{i}.png", (256, 256), seed=i)
    shutil.copyfile(work / "assets/outputs/o0.png", work / "assets/outputs/zz-copy.png")
    _png(work / "assets" / "outputs" / "thumb.png", (128, 128), seed=5)  # below MIN_SIDE
    _png(work / "assets" / "inputs" / "i0.png", (256, 256), seed=6)  # an input: not included
    _png(work / "assets" / "framework.png", (512, 256), seed=7)  # a figure: not included
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "samples")
    return work, _git(work, "rev-parse", "HEAD")


def _source(commit: str, **kwargs) -> photos.PhotoSource:
    fields = dict(name="model-samples", repository="someone/model", commit=commit, generator="model-1.0",
                  category="other", license="Apache-2.0", include=("assets/outputs",))
    fields.update(kwargs)
    return generated._source(**fields)


@needs_git
def test_a_generated_source_writes_label_generator_and_provenance(tmp_path):
    work, commit = _repo(tmp_path / "repos")
    manifest = generated.build(tmp_path / "corpus", [_source(commit)], repos=tmp_path / "repos", clone=False,
                               log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    assert list(rows[0]) == list(photos.MANIFEST_FIELDS)
    # o0..o3; the copy of o0, the thumbnail, the input and the figure left out
    assert sorted(r["repo_path"] for r in rows) == [f"assets/outputs/o{i}.png" for i in range(4)]
    for row in rows:
        assert (row["label"], row["generator"], row["source"]) == ("generated", "model-1.0", "model-samples")
        assert (row["repository"], row["commit"], row["license"]) == ("someone/model", commit, "Apache-2.0")
        assert row["path"].startswith("generated/model-samples/")
        assert row["sha256"] == photos.sha256_file(work / row["repo_path"]) == photos.sha256_file(
            manifest.parent / row["path"])
    records = load_manifest(manifest.parent)
    assert {r.label for r in records} == {1}
    assert {r.group for r in records} == {"model-samples:model-1.0"}  # one leave-source-out group


@needs_git
def test_the_file_is_read_at_the_pinned_commit(tmp_path):
    work, commit = _repo(tmp_path / "repos")
    _png(work / "assets" / "outputs" / "o1.png", (256, 256), seed=99)
    _git(work, "commit", "-q", "-am", "later")
    manifest = generated.build(tmp_path / "corpus", [_source(commit)], repos=tmp_path / "repos", clone=False,
                               log=lambda m: None)
    by_path = {r["repo_path"]: r for r in csv.DictReader(manifest.open())}
    blob = subprocess.run(["git", "-C", str(work), "cat-file", "blob", f"{commit}:assets/outputs/o1.png"],
                          capture_output=True, check=True).stdout
    assert (manifest.parent / by_path["assets/outputs/o1.png"]["path"]).read_bytes() == blob


@needs_git
def test_dedupe_across_sources_and_the_cap(tmp_path):
    _, commit = _repo(tmp_path / "repos")
    _, commit2 = _repo(tmp_path / "repos", "other/fork")  # the same files under another name
    first = _source(commit, cap=2)
    second = _source(commit2, name="fork-samples", repository="other/fork", generator="model-1.0-fork")
    manifest = generated.build(tmp_path / "corpus", [first, second], repos=tmp_path / "repos", clone=False,
                               log=lambda m: None)
    rows = list(csv.DictReader(manifest.open()))
    assert len({r["sha256"] for r in rows}) == len(rows) == 4
    firsts = [r for r in rows if r["source"] == "model-samples"]
    assert len(firsts) == 2 and [r["sha256"] for r in firsts] == sorted(r["sha256"] for r in rows)[:2]
    assert {(r["source"], r["generator"]) for r in rows} == {("model-samples", "model-1.0"),
                                                             ("fork-samples", "model-1.0-fork")}


@pytest.mark.parametrize("name", sorted(reserved.RESERVED_REPOSITORIES))
def test_reserved_repositories_are_refused_before_anything_is_fetched(tmp_path, name, monkeypatch):
    def no_fetching(*args, **kwargs):
        raise AssertionError("fetched a reserved source")

    monkeypatch.setattr(photos, "locate", no_fetching)
    monkeypatch.setattr(photos, "_clone", no_fetching)
    with pytest.raises(SourceRefusedError, match="reserved for evaluation"):
        generated.build(tmp_path / "corpus", [_source(SHA, repository=name)], repos=tmp_path / "repos",
                        log=lambda m: None)
    assert not (tmp_path / "repos").exists() and not (tmp_path / "corpus").exists()


@pytest.mark.parametrize("name", ["SupaGruen/StableDiffusion-CheatSheet", "PicoTrex/Awesome-Nano-Banana-images",
                                  "jamez-bondos/awesome-gpt4o-images", "jyoung105/yetter",
                                  "EvoLinkAI/gpt-image-2-for-e-commerce", "songguoxs/gpt4o-image-prompts"])
def test_generated_sources_already_in_shared_are_refused(name):
    with pytest.raises(SourceRefusedError):
        photos.refuse_forbidden([_source(SHA, repository=name)])


def test_a_generated_source_names_its_generator_and_a_real_one_none():
    with pytest.raises(ValueError, match="generator"):
        photos.PhotoSource("x", "other", "MIT", repository="a/b", commit=SHA, label="generated")
    with pytest.raises(ValueError, match="generator"):
        photos.PhotoSource("x", "other", "MIT", repository="a/b", commit=SHA, generator="sdxl")
    with pytest.raises(ValueError, match="label"):
        photos.PhotoSource("x", "other", "MIT", repository="a/b", commit=SHA, label="fake", generator="sdxl")
    with pytest.raises(ValueError, match="generated sources only"):
        generated.build(Path("unused"), [photos.PhotoSource("x", "other", "MIT", repository="a/b", commit=SHA)])


def test_the_shipped_table_is_pinned_allowed_unique_and_capped():
    assert generated.SOURCES
    photos.refuse_forbidden(generated.SOURCES)
    names = [s.name for s in generated.SOURCES]
    assert len(set(names)) == len(names)
    assert not set(names) & {s.name for s in photos.SOURCES}
    for source in generated.SOURCES:
        assert source.label == "generated" and source.generator and source.license
        assert source.kind == "git" and len(source.commit) == 40 and source.include
        assert source.cap is not None and source.cap <= 100


def test_the_cli_builds_the_generated_corpus_and_exits_2_when_a_repository_is_missing(tmp_path, monkeypatch,
                                                                                        capsys):
    from synthcheck.cli import main

    monkeypatch.setattr(photos, "_clone", lambda repos, repository, log: None)  # no network in tests
    assert main(["data", "generated", "--repos", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert generated.SOURCES[0].repository in err and "git clone" in err
    assert not (tmp_path / "out").exists()


@needs_git
def test_the_cli_writes_the_manifest(tmp_path, monkeypatch):
    from synthcheck.cli import main

    _, commit = _repo(tmp_path / "repos")
    monkeypatch.setattr(generated, "SOURCES", (_source(commit),))
    assert main(["data", "generated", "--repos", str(tmp_path / "repos"), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "manifest.csv").open()))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"generated"}
