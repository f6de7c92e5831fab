"""Analysis off the event loop: a pool of worker processes, each loading the models once
(at start-up, not per request). A request that runs past the timeout has its worker
killed and gets a `timeout` report; a worker that dies gives an `internal_error` report.
Either way the pool replaces the worker and the service goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import multiprocessing
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessExpired, ProcessPool

from ..options import AnalysisOptions
from ..pipeline import PIPELINE_VERSION, get_scanner
from ..report import Report, ReportError
from ..workers import start_worker, unfinished

log = logging.getLogger("synthcheck.service")


def _models_loaded(options: AnalysisOptions) -> bool:
    get_scanner(options)
    return True


def _analyze(data: bytes, policy: str, name: str, options: AnalysisOptions) -> Report:
    return get_scanner(options).analyze(data, policy, path=name)


class AnalysisExecutor:
    def __init__(self, options: AnalysisOptions, workers: int, timeout_s: float):
        self.options = options
        self.workers = workers
        self.timeout_s = timeout_s
        # forkserver: workers start from a clean process, not a fork of a running server
        # with threads (a fork could inherit a lock held by another thread).
        self._pool = ProcessPool(max_workers=workers, initializer=start_worker, initargs=(options,),
                                 context=multiprocessing.get_context("forkserver"))

    async def analyze(self, data: bytes, policy: str, name: str, thumbnails: bool = False) -> Report:
        options = dataclasses.replace(self.options, thumbnails=thumbnails)
        future = self._pool.schedule(_analyze, (data, policy, name, options), timeout=self.timeout_s)
        try:
            return await asyncio.wrap_future(future)
        except (FutureTimeout, ProcessExpired) as exc:  # the worker did not return a report
            error = unfinished(exc, self.timeout_s)
            return _error_report(name, data, error.code, error.message)

    def ready(self) -> bool:
        """True once one analysis has gone through the pool (models loaded)."""
        future = self._pool.schedule(_models_loaded, (self.options,), timeout=max(300.0, self.timeout_s))
        try:
            return future.result()
        except Exception as exc:
            log.error("analysis workers failed to start: %s", exc)
            return False

    def close(self) -> None:
        self._pool.close()
        self._pool.join(timeout=10)
        self._pool.stop()


def _error_report(name: str, data: bytes, code: str, message: str) -> Report:
    # The hash and size still identify the upload in the audit log.
    return Report(path=name, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                  error=ReportError(code, message), pipeline_version=PIPELINE_VERSION)
