"""Fuzzing: mutated JPEG, PNG, WebP and C2PA-bearing files through analyze().

Bounded for CI (SYNTHCHECK_FUZZ_EXAMPLES per format, default 300; raise it for a longer
local run). Every mutant must give exactly one Report with `risk` or `error` — never an
exception — within FUZZ_TIMEOUT_S, and memory must not blow up."""

from __future__ import annotations

import os
import resource
import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from synthcheck import AnalysisOptions, testkit
from synthcheck.pipeline import Scanner

from .conftest import EXAMPLES

# Pillow warns about the broken EXIF it meets; that is the point of the exercise.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EXAMPLES_PER_FORMAT = int(os.environ.get("SYNTHCHECK_FUZZ_EXAMPLES", "300"))
FUZZ_TIMEOUT_S = 20
MAX_RSS_GROWTH_MB = 1500

SEEDS = {
    "jpeg": (EXAMPLES / "camera_exif.jpg").read_bytes(),
    "png": (EXAMPLES / "sd_webui_parameters.png").read_bytes(),
    "webp": testkit.encode(testkit.photo_like(192, 128, seed=5), "WEBP", quality=80),
    "c2pa_jpeg": (EXAMPLES / "ai_signed_c2pa.jpg").read_bytes(),
}

# The classifier only sees decoded pixels (covered elsewhere); without it the fuzzer
# spends its time on the parsers: headers, metadata, C2PA, JPEG tables, watermark decode.
SCANNER = Scanner(AnalysisOptions(classifier=None))


@st.composite
def mutants(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "duplicate", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=64))
            data[at : at + len(chunk)] = chunk
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=256))
        elif kind == "duplicate":
            length = draw(st.integers(1, 4096))
            data[at:at] = data[at : at + length]
        else:
            del data[at : at + draw(st.integers(1, 4096))]
        if not data:
            break
    return bytes(data)


@contextmanager
def time_limit(seconds: int):
    def on_alarm(signum, frame):
        raise TimeoutError(f"analysis of a mutant took longer than {seconds} s")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_mutants_never_crash_hang_or_blow_up(fmt):
    start_rss = rss_mb()

    @settings(max_examples=EXAMPLES_PER_FORMAT, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutants(SEEDS[fmt]))
    def check(data: bytes):
        with time_limit(FUZZ_TIMEOUT_S):
            report = SCANNER.analyze(data, "default", path=f"mutant.{fmt}")
        assert report.risk is not None or report.error is not None
        if report.error is not None:
            assert report.error.code != "internal_error", report.error.message
        report.to_dict()  # serialisable

    check()
    assert rss_mb() - start_rss < MAX_RSS_GROWTH_MB
