"""What every pool of analysis workers shares (`scan`'s local pool, the service's pool, the Ray
engine's actors): how a worker starts, and what a file a worker could not finish reports."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessExpired

from .errors import AnalysisTimeoutError, InternalError
from .options import AnalysisOptions
from .pipeline import warm_up
from .report import ReportError


def start_worker(options: AnalysisOptions) -> None:
    """A worker's start: one core's worth of threads (N workers x all-cores threads would
    oversubscribe the machine), and the models loaded now, before it takes a file, so that
    neither the first file nor a per-file timeout pays for the start-up."""
    from .models import set_inference_threads

    set_inference_threads(1)
    warm_up(options)


def unfinished(exc: BaseException, timeout_s: float) -> ReportError:
    """The error of a file whose worker did not return its report: stopped at the timeout,
    or the worker died (a crash, the memory limit)."""
    if isinstance(exc, FutureTimeout):
        return ReportError(AnalysisTimeoutError.code, f"analysis took longer than {timeout_s:g} s and was stopped")
    if isinstance(exc, ProcessExpired):
        return ReportError(InternalError.code, f"the worker analysing this file died ({exc})")
    return ReportError(InternalError.code, f"{type(exc).__name__}: {exc}")
