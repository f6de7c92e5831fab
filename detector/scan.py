"""Scanning many files: expand inputs, run analyze() in worker processes with a
per-file timeout, and yield exactly one Report per input, in input order."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from pebble import ProcessPool
from pebble.common import ProcessExpired

from .errors import AnalysisTimeoutError, InternalError
from .options import AnalysisOptions
from .pipeline import PIPELINE_VERSION, get_scanner
from .report import Report, ReportError

DEFAULT_TIMEOUT_S = 60.0


def expand_inputs(paths: Iterable[str | Path]) -> Iterator[str]:
    """Files as given; directories recursively (sorted, hidden entries skipped).
    A missing path is yielded as-is so that it gets its own error report."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield str(Path(root) / name)
        else:
            yield str(raw)


def _init_worker() -> None:
    # Each worker process gets one core's worth of threads: N workers x all-cores
    # threads would oversubscribe the machine.
    import torch

    torch.set_num_threads(1)


def _analyze_one(path: str, policy: str, options: AnalysisOptions) -> Report:
    return get_scanner(options).analyze(path, policy)


def _error_report(path: str, code: str, message: str) -> Report:
    return Report(path=path, error=ReportError(code, message), pipeline_version=PIPELINE_VERSION)


def scan(paths: Iterable[str], policy: str = "default", options: AnalysisOptions | None = None,
         workers: int = 0, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Report]:
    """Yield one Report per path, in order.

    workers=0 analyses in this process (no timeout, lowest overhead for a few files);
    workers>=1 uses that many processes, each file limited to timeout_s seconds: a file
    that hangs or kills its worker gets an error report and the scan goes on."""
    options = options or AnalysisOptions()
    if workers <= 0:
        for path in paths:
            yield _analyze_one(path, policy, options)
        return
    with ProcessPool(max_workers=workers, initializer=_init_worker) as pool:
        pending: deque = deque()
        window = workers * 4  # bounded: millions of paths never sit in memory as futures
        for path in paths:
            pending.append((path, pool.schedule(_analyze_one, (path, policy, options), timeout=timeout_s)))
            while len(pending) >= window:
                yield _result(*pending.popleft(), timeout_s)
        while pending:
            yield _result(*pending.popleft(), timeout_s)


def _result(path: str, future, timeout_s: float) -> Report:
    try:
        return future.result()
    except FutureTimeout:
        return _error_report(path, AnalysisTimeoutError.code,
                             f"analysis took longer than {timeout_s:g} s and was stopped")
    except ProcessExpired as exc:
        return _error_report(path, InternalError.code, f"the worker analysing this file died ({exc})")
    except Exception as exc:  # pragma: no cover - analyze() itself never raises for bad input
        return _error_report(path, InternalError.code, f"{type(exc).__name__}: {exc}")

