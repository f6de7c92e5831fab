"""Shared fixtures: real files made on the fly (test CA, signed images, metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthcheck import AnalysisOptions, testkit
from synthcheck.pipeline import Scanner

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "images"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def test_ca() -> testkit.TestCA:
    return testkit.make_test_ca()


@pytest.fixture(scope="session")
def anchors_file(tmp_path_factory, test_ca) -> Path:
    path = tmp_path_factory.mktemp("trust") / "anchors.pem"
    path.write_bytes(test_ca.root_pem)
    return path


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    return Scanner(AnalysisOptions())


@pytest.fixture(scope="session")
def photo_jpeg() -> bytes:
    return testkit.encode(testkit.photo_like(640, 480, seed=11), "JPEG", quality=90)


def codes(report) -> set[str]:
    return {e.code for e in report.evidence}


def evidence(report, code: str):
    matches = [e for e in report.evidence if e.code == code]
    assert matches, f"no evidence {code!r} in {[e.code for e in report.evidence]}"
    return matches[0]


def shared_or_skip(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus is not checked out beside the repository")
    return path
