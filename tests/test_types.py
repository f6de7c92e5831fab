"""The runtime passes `mypy` (settings in pyproject.toml, [tool.mypy]): the type check runs with
the tests, so CI, which runs the README's test command, runs it too.

mypy resolves imports by folder, and the folders are not named as the packages (pyproject.toml,
[tool.setuptools] package-dir: detector/ is `synthcheck`, models/ is `synthcheck.models`...). So
the check runs on the installed layout, rebuilt from symlinks in a temporary folder:
`synthcheck/` holds every entry of detector/ and one link per other folder. It checks the
runtime, what scanning and serving run: synthcheck's modules, synthcheck.analyzers,
synthcheck.models and synthcheck.service; the lab (synthcheck.training, synthcheck.datasets) is
read for the types the runtime imports from it, not checked."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import REPO

CHECKED = ["analyzers", "models", "service"]  # besides synthcheck's own modules (synthcheck/*.py)


def installed_layout(root: Path) -> Path:
    """root/synthcheck: the package as installed, made of symlinks to the repository's folders."""
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top = REPO / package_dir["synthcheck"]
    package = root / "synthcheck"
    package.mkdir()
    for entry in top.iterdir():
        if entry.name not in ("__pycache__", ".mypy_cache"):
            (package / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for name, folder in package_dir.items():
        parent, _, sub = name.rpartition(".")
        if not parent:  # synthcheck itself: linked above
            continue
        # a deeper package (synthcheck.service.routers) lies inside its parent's folder
        assert parent == "synthcheck" or REPO / folder == REPO / package_dir[parent] / sub, name
        if parent == "synthcheck" and not (package / sub).exists():
            (package / sub).symlink_to(REPO / folder, target_is_directory=True)
    return package


def test_mypy_passes(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it comes with the `test` extra: pip install -e '.[test]')")
    package = installed_layout(tmp_path)
    targets = sorted(str(p.relative_to(tmp_path)) for p in package.glob("*.py"))
    targets += [f"synthcheck/{name}" for name in CHECKED]
    # run from the temporary folder, so that `synthcheck` is the symlinked tree (and the
    # .mypy_cache is written there, not in the repository)
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), *targets],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mypy found problems (exit {done.returncode}):\n{done.stdout}{done.stderr}"
