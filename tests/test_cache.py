"""The cache directory rule (synthcheck.cache, issue 30): one small module that the dataset
code, the CLI and the backbone code all read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synthcheck.cache import cache_root


def test_synthcheck_cache_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "mine"


def test_else_xdg_cache_home_else_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SYNTHCHECK_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "synthcheck"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "synthcheck"


def test_finding_a_cache_corpus_does_not_import_the_backbone_code(tmp_path):
    (tmp_path / "data" / "artwork").mkdir(parents=True)
    (tmp_path / "data" / "artwork" / "manifest.csv").write_text("path,label\n")
    probe = ("import sys\nfrom pathlib import Path\nfrom synthcheck.datasets.records import corpus_root\n"
             "print('ROOT', corpus_root('cache:data/artwork', Path.cwd()))\n"
             "print('BACKBONES', 'synthcheck.models.backbones' in sys.modules)\n")
    env = {**os.environ, "SYNTHCHECK_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert f"ROOT {tmp_path / 'data' / 'artwork'}" in done.stdout, done.stderr[-1500:]
    assert done.returncode == 0, done.stderr[-1500:]
    assert "BACKBONES False" in done.stdout, done.stdout[-500:]


def test_the_backbones_live_under_the_same_cache(monkeypatch, tmp_path):
    from synthcheck.models.backbones import backbone_dir

    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    assert backbone_dir("clip-vit-b16") == Path(tmp_path) / "backbones" / "clip-vit-b16"
