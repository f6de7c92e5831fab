"""`scan --engine ray` on a local Ray cluster (ray.init(num_cpus=2)): the same reports as
the local engine, JSON lines and Parquet, listing-file input, resume by sha256."""

from __future__ import annotations

import json
import shutil

import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs the `ray` extra (pip install -e '.[ray]')")

from synthcheck import AnalysisOptions  # noqa: E402
from synthcheck.cli import main  # noqa: E402
from synthcheck.ray_engine import read_reports, scan_with_ray  # noqa: E402
from synthcheck.scan import expand_inputs, scan  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402

OPTIONS = AnalysisOptions()


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(EXAMPLES, folder)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return folder


def comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "timings_ms"}


def test_same_reports_as_the_local_engine_and_resume(corpus, tmp_path):
    output = tmp_path / "reports.jsonl"
    counts = scan_with_ray([str(corpus)], output, "jsonl", "kyc", OPTIONS, actors=2)
    inputs = len(list(EXAMPLES.iterdir())) + 2  # the samples, empty.jpg and notes.txt (2 error reports)
    assert counts == {"analysed": inputs, "already_in_output": 0, "errors": 2, "fail_on_reached": 0}
    ray_reports = list(read_reports(output, "jsonl"))
    local = [r.to_dict() for r in scan(list(expand_inputs([str(corpus)])), "kyc", OPTIONS, workers=0)]
    assert [comparable(r) for r in ray_reports] == [comparable(r) for r in local]

    again = scan_with_ray([str(corpus)], output, "jsonl", "kyc", OPTIONS, actors=2)
    # by sha256, or by path if unreadable
    assert again == {"analysed": 0, "already_in_output": inputs, "errors": 0, "fail_on_reached": 0}
    (corpus / "new.png").write_bytes((EXAMPLES / "sdxl_watermarked.png").read_bytes()[:-1] + b"\x00")
    third = scan_with_ray([str(corpus)], output, "jsonl", "kyc", OPTIONS, actors=2)
    assert third["analysed"] == 1
    assert [r["path"] for r in read_reports(output, "jsonl")][-1].endswith("new.png")


def test_listing_file_to_parquet(corpus, tmp_path):
    listing = tmp_path / "inputs.txt"
    paths = list(expand_inputs([str(corpus)]))
    listing.write_text("\n".join(paths) + "\n")
    output = tmp_path / "reports.parquet"
    counts = scan_with_ray([], output, "parquet", "default", OPTIONS, listing=listing, actors=2)
    assert counts["analysed"] == len(paths)
    reports = list(read_reports(output, "parquet"))
    assert [r["path"] for r in reports] == paths
    import pyarrow.parquet as pq

    table = pq.read_table(next(output.glob("*.parquet")))
    assert {"path", "sha256", "level", "score", "error_code", "report_json"} <= set(table.column_names)
    assert scan_with_ray([], output, "parquet", "default", OPTIONS, listing=listing, actors=2)["analysed"] == 0


def test_cli_engine_ray(corpus, tmp_path, capsys):
    output = tmp_path / "cli.jsonl"
    assert main(["scan", "--engine", "ray", str(EXAMPLES), "--output", str(output), "--workers", "1"]) == 0
    lines = output.read_text().splitlines()
    assert len(lines) == len(list(EXAMPLES.iterdir())) and all(json.loads(line)["risk"] for line in lines)
    assert main(["scan", "--engine", "ray", str(EXAMPLES)]) == 2  # no --output
    assert "--output" in capsys.readouterr().err


def test_cli_engine_ray_fail_on_counts_a_file_not_fully_analysed(tmp_path, capsys):
    """Issue 29, item 1, on Ray: the same --fail-on rule as the local engine; a truncated JPEG
    (pixels never decoded, level medium) trips --fail-on high."""
    data = (EXAMPLES / "plain_photo.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    output = tmp_path / "fail_on.jsonl"
    code = main(["scan", "--engine", "ray", str(EXAMPLES / "plain_photo.jpg"), str(truncated), "--output",
                 str(output), "--workers", "1", "--fail-on", "high"])
    reports = list(read_reports(output, "jsonl"))
    assert [r["risk"]["level"] for r in reports] == ["low", "medium"] and reports[1]["risk"]["unchecked"] == ["decode"]
    assert code == 1, capsys.readouterr().err


def test_a_ray_scan_is_quiet_unless_verbose(tmp_path_factory):
    """Issue 29, item 12: a successful Ray run printed ~15 lines of Ray's own logs on stderr,
    an 'E ... core_worker.cc' line among them; only synthcheck's summary by default, Ray's lines
    with --verbose. In a subprocess (a fresh driver), with Ray's files under a short pytest
    directory (its socket paths must stay under 107 bytes)."""
    import os
    import subprocess
    import sys

    short = tmp_path_factory.mktemp("r")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SYNTHCHECK_"))}, "TMPDIR": str(short)}
    runs = {}
    for flag in ([], ["--verbose"]):
        output = short / f"out{len(runs)}.jsonl"
        done = subprocess.run([sys.executable, "-m", "synthcheck.cli", "scan", "--engine", "ray",
                               str(EXAMPLES / "plain_photo.jpg"), "--workers", "1", "--output", str(output), *flag],
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert len(output.read_text().splitlines()) == 1
        runs[bool(flag)] = done.stderr.splitlines()
    quiet, verbose = runs[False], runs[True]
    assert quiet == ["synthcheck: 1 file analysed (0 with errors), 0 already in "
                     f"{short / 'out0.jsonl'} (skipped)"], quiet
    assert len(verbose) > 3 and any("streaming_executor" in line or "ray" in line.lower() for line in verbose[:-1])
