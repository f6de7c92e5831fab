"""The code passes `ruff check .` (rules and exceptions in pyproject.toml, [tool.ruff]): the lint
runs with the tests, so CI, which runs the README's test command, runs it too."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO


def _ruff() -> list[str] | None:
    """ruff as installed by the `test` extra: the module of this interpreter, or the binary beside it."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    binary = shutil.which("ruff", path=str(Path(sys.executable).parent))
    return [binary] if binary else None


def test_ruff_check_passes():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the `test` extra: pip install -e '.[test]')")
    # --no-cache: a test run leaves no .ruff_cache in the repository
    done = subprocess.run([*ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"`ruff check .` found problems (exit {done.returncode}):\n{done.stdout}{done.stderr}"
