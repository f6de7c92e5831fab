"""`synthcheck scan --engine ray`: the same analyze() on Ray (Ray Data), for corpora of
millions of files on a cluster.

Inputs are files and directories, or a listing file with one path per line (read by Ray,
never held whole by the driver). Each Ray actor builds one Scanner (models loaded once)
and analyses batches of paths. Results stream back to the driver, which writes them:
JSON lines (the same objects as `scan --format jsonl`, appended to the output file) or
Parquet (a folder of part files with the main fields as columns and the whole report as
`report_json`). A run is resumable: the sha256 of every report already in the output is
loaded first, and a file with one of those hashes is skipped (it is still read, to hash
it, but not analysed); an input that could not even be read (so has no sha256) is skipped
when its path already has a report."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from .errors import SynthcheckError
from .image_input import display_path, read_source
from .options import AnalysisOptions
from .report import Level, Report, reaches

PARQUET_ROWS_PER_PART = 10_000  # a crash loses at most the part being written


def already_done(output: Path, fmt: str) -> set[str]:
    """What `output` already reports (resume): the sha256 of every analysed file, and
    "path:<path>" for inputs that could not be read at all."""
    done: set[str] = set()

    def add(sha: str | None, path: str) -> None:
        done.add(sha if sha else f"path:{path}")

    if fmt == "jsonl" and output.is_file():
        with output.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    report = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a crash
                    continue
                add(report.get("sha256"), report.get("path", ""))
    elif fmt == "parquet" and output.is_dir():
        import pyarrow.parquet as pq

        for part in sorted(output.glob("*.parquet")):
            try:
                table = pq.read_table(part, columns=["sha256", "path"]).to_pydict()
            except Exception:  # a part cut short by a crash: its files are analysed again
                continue
            for sha, path in zip(table["sha256"], table["path"]):
                add(sha, path)
    return done


# One output row per file: the fields an analyst filters on, and the whole report.
# `unchecked`: the checks that could not run on the file, comma-separated ("" when every check ran).
OUTPUT_COLUMNS = ("path", "sha256", "media_type", "score", "level", "error_code", "unchecked", "report_json")


def output_row(report: Report) -> dict[str, Any]:
    return {"path": report.path, "sha256": report.sha256, "media_type": report.media_type,
            "score": report.risk.score if report.risk else None,
            "level": report.risk.level if report.risk else None,
            "error_code": report.error.code if report.error else None,
            "unchecked": ",".join(report.risk.unchecked) if report.risk else "",
            "report_json": json.dumps(report.to_dict(), ensure_ascii=False)}


class AnalyzeBatch:
    """Ray Data callable class: one per actor, so the models load once per actor."""

    def __init__(self, policy: str, options: AnalysisOptions, done: Any):
        import ray

        from .pipeline import get_scanner
        from .workers import start_worker

        start_worker(options)  # one actor per CPU: one thread each; the models loaded before the first batch
        self.scanner = get_scanner(options)
        self.policy = policy
        self.done = ray.get(done) if isinstance(done, ray.ObjectRef) else done

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {column: [] for column in OUTPUT_COLUMNS}
        for raw in batch["path"]:
            path = str(raw).rstrip("\n")
            if not path:
                continue
            try:
                data = read_source(path, self.scanner.options.max_file_bytes)
            except SynthcheckError:
                if f"path:{path}" in self.done:
                    continue
                report = self.scanner.analyze(path, self.policy)  # the same error report as locally
            else:
                sha = hashlib.sha256(data).hexdigest()
                if sha in self.done:
                    continue
                report = self.scanner.analyze(data, self.policy, path=display_path(path))
            for column, value in output_row(report).items():
                out[column].append(value)
        return out


# A line of Ray's C++ core on stderr: "[2026-12-05 07:13:50,177 E 5942 5942] core_worker.cc:2465: ...".
RAY_CORE_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWE] \d+ \d+\] ")


@contextmanager
def _without_ray_core_lines() -> Iterator[None]:
    """Ray's C++ core writes its log lines to the process's stderr itself (file descriptor 2,
    below Python's logging), and says an 'E ... core_worker.cc' line on every good run, about
    Ray Data's own actor arguments (ray-project/ray#57733); RAY_BACKEND_LOG_LEVEL cannot hide
    it without a line of its own. So while Ray runs, fd 2 goes through a pipe that drops those
    lines (they are in the session's python-core-driver log too) and passes on everything
    else: synthcheck's own words, Python's warnings and tracebacks, Ray's fatal (F) lines."""
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                if not RAY_CORE_LINE.match(line):
                    os.write(real, line)

    thread = threading.Thread(target=pump, name="synthcheck-ray-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the pump reads to its end and stops
        thread.join(timeout=10)
        if not thread.is_alive():
            os.close(real)


def scan_with_ray(inputs: Iterable[str], output: Path, fmt: str = "jsonl", policy: str = "default",
                  options: AnalysisOptions | None = None, listing: Path | None = None,
                  actors: int | None = None, address: str | None = None, batch_size: int = 8,
                  fail_on: Level | None = None, verbose: bool = False) -> dict[str, int]:
    """Analyse every input on Ray and write the reports to `output`; returns counts, with
    `fail_on_reached`: the files of this run that reach `fail_on` by the local engine's rule
    (report.reaches: that level or above, or not fully analysed). Ray's own log lines stay off
    stderr unless `verbose` (they are still in its session's log files)."""
    with nullcontext() if verbose else _without_ray_core_lines():
        return _scan_with_ray(inputs, output, fmt, policy, options, listing, actors, address, batch_size, fail_on,
                              verbose)


def _scan_with_ray(inputs: Iterable[str], output: Path, fmt: str, policy: str, options: AnalysisOptions | None,
                   listing: Path | None, actors: int | None, address: str | None, batch_size: int,
                   fail_on: Level | None, verbose: bool) -> dict[str, int]:
    import ray
    import ray.data

    from .scan import expand_inputs

    options = options or AnalysisOptions()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=verbose,
                 logging_level=logging.INFO if verbose else logging.ERROR)
    # ray.data sets its own loggers up when it is imported (above): only now can they be quietened
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)
    done = already_done(output, fmt)
    actors = actors or max(1, int(ray.available_resources().get("CPU", 1)))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose
    context.execution_options.preserve_order = True  # reports in input order, as the local engine
    if listing is not None:
        dataset = ray.data.read_text(str(listing)).rename_columns({"text": "path"})
    else:
        dataset = ray.data.from_items([{"path": p} for p in expand_inputs(inputs)])
    reports = dataset.map_batches(AnalyzeBatch, batch_size=batch_size, num_cpus=1,
                                  compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                                  fn_constructor_kwargs={"policy": policy, "options": options,
                                                         "done": ray.put(done)})
    counts = {"analysed": 0, "already_in_output": len(done), "errors": 0, "fail_on_reached": 0}
    writer = _writer(output, fmt)
    try:
        for batch in reports.iter_batches(batch_format="pandas", batch_size=256):
            for row in batch.to_dict("records"):
                counts["analysed"] += 1
                counts["errors"] += row["error_code"] is not None
                if fail_on:
                    counts["fail_on_reached"] += reaches(row["level"], [u for u in row["unchecked"].split(",") if u],
                                                         fail_on)
                writer.write(row)
    finally:
        writer.close()
    return counts


class _JsonlWriter:
    def __init__(self, output: Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        self.out = output.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self.out.write(row["report_json"] + "\n")

    def close(self) -> None:
        self.out.close()


class _ParquetWriter:
    """Part files of PARQUET_ROWS_PER_PART rows; each run adds its own parts."""

    def __init__(self, output: Path):
        output.mkdir(parents=True, exist_ok=True)
        self.output, self.part = output, 0
        self.rows: list[dict[str, Any]] = []
        self.stamp = time.strftime("%Y%m%dT%H%M%S")

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= PARQUET_ROWS_PER_PART:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.output / f"part-{self.stamp}-{self.part:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(self.rows), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)  # a part appears whole or not at all
        self.rows, self.part = [], self.part + 1

    def close(self) -> None:
        self.flush()


def _writer(output: Path, fmt: str):
    return _JsonlWriter(output) if fmt == "jsonl" else _ParquetWriter(output)


def read_reports(output: Path, fmt: str) -> Iterator[dict]:
    """The reports written to `output` (for checks and tests)."""
    if fmt == "jsonl":
        with output.open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)
    else:
        import pyarrow.parquet as pq

        for part in sorted(output.glob("*.parquet")):
            for text in pq.read_table(part, columns=["report_json"]).column("report_json").to_pylist():
                yield json.loads(text)
