"""Shared fixtures: real files made on the fly (test CA, signed images, metadata)."""

from __future__ import annotations

import importlib.util
import os
import struct
import tempfile
import zlib
from pathlib import Path

import pytest

from synthcheck import AnalysisOptions, testkit
from synthcheck.pipeline import Scanner

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "images"
SHARED = REPO.parent / "shared"

# tests/training/ tests the lab (training/), which needs the `train` extra (torch); the rest
# tests the product, which runs on the base install plus the `test` extra's tools.
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


TRAIN_EXTRA = _installed("torch")


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if not TRAIN_EXTRA and collection_path == Path(__file__).parent / "training":
        return True
    return None


def pytest_report_header(config) -> str | None:
    if not TRAIN_EXTRA:
        return "tests/training/ not collected: torch is not installed (pip install -e '.[train]' runs them too)"
    return None


@pytest.fixture(scope="session", autouse=True)
def temporary_files_under_pytest(tmp_path_factory):
    """What the tests and the processes they start write to the temporary directory (Ray's
    sessions, multiprocessing's sockets, the browser's profile) goes under pytest's own
    directory, never into /tmp, where it would outlive the run. Short, for Ray's socket paths."""
    tmp = tmp_path_factory.mktemp("tmp")
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(tmp)
    yield tmp
    if saved[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved[0]
    tempfile.tempdir = saved[1]


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


def png_with_declared_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims another size (a decompression-bomb header)."""
    data = bytearray(testkit.encode(testkit.photo_like(16, 16), "PNG"))
    ihdr = data[16:29]
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)
