"""Scanning many files: expand inputs, run analyze() in worker processes with a
per-file timeout, and yield exactly one Report per input, in input order."""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path

from pebble import ProcessPool

from .image_input import sniff_media_type
from .options import DEFAULT_TIMEOUT_S, AnalysisOptions
from .pipeline import PIPELINE_VERSION, get_scanner
from .report import Report
from .workers import start_worker, unfinished


class InputListing:
    """The files of a scan, expanded lazily from the paths given. Counts what it left out:
    files inside directories that are not images by their bytes (a README, a .pem, a
    script) are skipped unless `include_non_images`; files named explicitly always get a
    report, whatever they are."""

    def __init__(self, paths: Iterable[str | Path], include_non_images: bool = False):
        self._paths = paths
        self.include_non_images = include_non_images
        self.skipped_non_images = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self._paths:
            path = Path(raw)
            if path.is_dir():
                for root, dirs, files in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for name in sorted(files):
                        if name.startswith("."):
                            continue
                        child = str(Path(root) / name)
                        if self.include_non_images or _may_be_image(child):
                            yield child
                        else:
                            self.skipped_non_images += 1
            else:
                yield str(raw)  # a missing path is yielded as-is: it gets its own error report


def _may_be_image(path: str) -> bool:
    """False only for a regular file whose first bytes are no supported image format.
    Anything else (not a regular file, unreadable, empty) is kept so that its report
    says what is wrong with it; a FIFO is never opened here (that would block)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return True
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return True
    return sniff_media_type(head) is not None


def expand_inputs(paths: Iterable[str | Path], include_non_images: bool = True) -> Iterator[str]:
    """Files as given; directories recursively (sorted, hidden entries skipped).
    A missing path is yielded as-is so that it gets its own error report."""
    return iter(InputListing(paths, include_non_images))


def _analyze_one(path: str, policy: str, options: AnalysisOptions) -> Report:
    return get_scanner(options).analyze(path, policy)


def scan(paths: Iterable[str], policy: str = "default", options: AnalysisOptions | None = None,
         workers: int = 0, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Report]:
    """Yield one Report per path, in order.

    workers=0 analyses in this process (no timeout, lowest overhead for a few files);
    workers>=1 uses that many processes, each file limited to timeout_s seconds of analysis
    (counted from when a warmed-up worker takes it: start-up is not counted): a file that
    hangs or kills its worker gets an error report and the scan goes on."""
    options = options or AnalysisOptions()
    if workers <= 0:
        for path in paths:
            yield _analyze_one(path, policy, options)
        return
    with ProcessPool(max_workers=workers, initializer=start_worker, initargs=(options,)) as pool:
        pending: deque[tuple[str, Future[Report]]] = deque()  # pebble's ProcessFuture is a Future
        window = workers * 4  # bounded: millions of paths never sit in memory as futures
        for path in paths:
            pending.append((path, pool.schedule(_analyze_one, (path, policy, options), timeout=timeout_s)))
            while len(pending) >= window:
                yield _result(*pending.popleft(), timeout_s)
        while pending:
            yield _result(*pending.popleft(), timeout_s)


def _result(path: str, future: Future[Report], timeout_s: float) -> Report:
    try:
        return future.result()
    except Exception as exc:  # the worker did not return a report (analyze() itself never raises for bad input)
        return Report(path=path, error=unfinished(exc, timeout_s), pipeline_version=PIPELINE_VERSION)
