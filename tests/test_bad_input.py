"""Bad input never crashes: each input gets one report, with `error` or evidence."""

from __future__ import annotations

import struct

import pytest

from synthcheck import AnalysisOptions, analyze, testkit
from synthcheck.analyzers import watermark
from synthcheck.pipeline import Scanner
from synthcheck.scan import scan

from .conftest import codes, evidence, png_with_declared_size, shared_or_skip


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    report = analyze(path)
    assert report.error.code == "empty_file" and report.risk is None


def test_missing_path_and_directory(tmp_path):
    assert analyze(tmp_path / "nope.jpg").error.code == "unreadable_path"
    assert analyze(tmp_path).error.code == "unreadable_path"


def test_unreadable_file(tmp_path):
    import os

    path = tmp_path / "secret.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root: permissions cannot make a file unreadable")
    assert analyze(path).error.code == "unreadable_path"


def test_non_image_and_wrong_type():
    assert analyze(b"hello, this is text\n").error.code == "unsupported_format"
    assert analyze(b"%PDF-1.7\n...").error.code == "unsupported_format"
    assert analyze(b"BM" + b"\x00" * 60).error.code == "unsupported_format"


def test_wrong_extension_is_sniffed(tmp_path):
    path = tmp_path / "actually_png.jpg"
    path.write_bytes(testkit.encode(testkit.photo_like(64, 64), "PNG"))
    report = analyze(path)
    assert report.error is None and report.media_type == "image/png"


def test_corrupt_header():
    report = analyze(b"\xff\xd8\xff\xe0" + b"\x13\x37" * 200)
    assert report.error.code == "corrupt_image"


def test_truncated_jpeg_still_checks_provenance(test_ca, photo_jpeg):
    signed = testkit.sign_image(photo_jpeg, "image/jpeg", test_ca, "trainedAlgorithmicMedia")
    report = analyze(signed[: len(signed) * 2 // 3])
    assert report.error.code == "corrupt_image"
    assert "pixels_unreadable" in codes(report)
    # the manifest was read, and it no longer matches the (cut) file
    assert report.provenance.state in ("invalid", "unreadable")
    assert report.risk is not None
    assert "watermark" not in report.timings_ms  # pixel analyzers did not run


def test_decompression_bomb_is_refused_from_the_header():
    report = analyze(png_with_declared_size(50_000, 50_000))
    assert report.error.code == "image_too_large"
    assert "2,500,000,000 pixels" in report.error.message
    small_limit = Scanner(AnalysisOptions(max_pixels=1000)).analyze(testkit.encode(testkit.photo_like(64, 64), "PNG"))
    assert small_limit.error.code == "image_too_large"


def test_file_size_limit():
    report = Scanner(AnalysisOptions(max_file_bytes=100)).analyze(testkit.encode(testkit.photo_like(64, 64), "PNG"))
    assert report.error.code == "file_too_large"


def test_malformed_c2pa_segment_becomes_evidence(photo_jpeg):
    # An APP11 JUMBF segment whose box content is garbage.
    payload = b"JP\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x20jumd" + b"\xde\xad" * 40
    segment = b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload
    report = analyze(photo_jpeg[:2] + segment + photo_jpeg[2:])
    assert report.error is None
    assert report.provenance.state in ("unreadable", "none", "invalid")
    assert report.risk is not None


@pytest.mark.shared
@pytest.mark.parametrize("name", ["malformed_cbor.jpg", "no_alg.jpg", "prerelease.jpg"])
def test_shared_malformed_manifests(name):
    report = analyze(shared_or_skip("c2pa", name), options=AnalysisOptions(watermarks=False))
    assert report.error is None
    assert report.provenance.state in ("invalid", "unreadable")


def test_analyzer_failure_is_isolated(monkeypatch):
    def explode(self, image):
        raise RuntimeError("boom")

    monkeypatch.setattr(watermark.WatermarkAnalyzer, "analyze", explode)
    report = Scanner(AnalysisOptions()).analyze(testkit.encode(testkit.photo_like(300, 300), "PNG"))
    item = evidence(report, "analyzer_failed")
    assert item.source == "watermark" and "boom" in item.message
    assert report.error is None and report.risk is not None
    assert "dimensions" in report.timings_ms  # later analyzers still ran


def test_scan_gives_one_report_per_input_in_order(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(testkit.encode(testkit.photo_like(64, 64), "PNG"))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    paths = [str(good), str(empty), str(tmp_path / "missing.png"), str(good)]
    for workers in (0, 2):
        reports = list(scan(paths, workers=workers))
        assert [r.path for r in reports] == paths
        assert [r.error.code if r.error else None for r in reports] == [None, "empty_file", "unreadable_path", None]


def test_timeout_gives_an_error_report_and_the_scan_goes_on(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(testkit.encode(testkit.photo_like(2000, 2000), "PNG"))
    small = tmp_path / "small.png"
    small.write_bytes(testkit.encode(testkit.photo_like(64, 64), "PNG"))
    reports = list(scan([str(big), str(small)], workers=1, timeout_s=0.05))
    assert reports[0].error.code == "timeout"
    assert len(reports) == 2 and reports[1].path == str(small)


def test_mutated_files_never_raise():
    """A light, deterministic mutation pass over every sample (the full fuzzing run is
    separate): flipped, truncated and spliced bytes always give a report."""
    import random

    from .conftest import EXAMPLES

    rng = random.Random(1234)
    scanner = Scanner(AnalysisOptions(watermarks=False))
    for sample in sorted(EXAMPLES.iterdir()):
        original = sample.read_bytes()
        for _ in range(25):
            data = bytearray(original)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(1, len(data))]
            report = scanner.analyze(bytes(data))
            assert report.error is not None or report.risk is not None
