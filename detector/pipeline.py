"""`analyze()`: one input in, one Report out. The CLI and the service are thin
layers over this. Nothing here raises for a bad input: errors land in the report."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from . import __version__
from .analyzers import Analyzer, create_analyzers
from .errors import CorruptImageError, SynthcheckError
from .fusion import classifier_unavailable, fuse, weigh
from .image_input import ImageInput, display_path, open_image, read_source
from .models import inference_threads
from .options import AnalysisOptions
from .policy import Policy, get_policy
from .report import Evidence, Report, ReportError

PIPELINE_VERSION = f"synthcheck/{__version__}"


class Scanner:
    """Holds the analyzers (and their heavy state) for one set of options; reuse it."""

    def __init__(self, options: AnalysisOptions | None = None):
        self.options = options or AnalysisOptions()
        self.analyzers = create_analyzers(self.options)

    def analyze(self, source: str | Path | bytes, policy: str | Policy = "default",
                path: str | None = None) -> Report:
        policy = get_policy(policy)
        started = time.perf_counter()
        report = Report(path=path or display_path(source), pipeline_version=PIPELINE_VERSION)
        try:
            data = read_source(source, self.options.max_file_bytes)
        except SynthcheckError as exc:
            return _failed(report, exc, started)
        report.size_bytes = len(data)
        report.sha256 = hashlib.sha256(data).hexdigest()
        try:
            image = open_image(report.path, data, self.options.max_pixels)
        except SynthcheckError as exc:
            return _failed(report, exc, started)

        report.media_type, report.width, report.height = image.media_type, image.width, image.height
        t = time.perf_counter()
        image.load_pixels()
        report.timings_ms["decode"] = _ms(t)
        if not image.pixels_ok:
            report.error = ReportError(CorruptImageError.code, image.pixels_error or "corrupt image")
            report.evidence.append(Evidence("decode", "pixels_unreadable",
                                            f"The pixels could not be decoded ({image.pixels_error}); only the "
                                            "file's metadata and provenance were checked.", 0.0))

        runnable = [analyzer for analyzer in self.analyzers if analyzer.handles(image.media_type)
                    and (image.pixels_ok or not analyzer.needs_pixels)]
        with ThreadPoolExecutor(1, thread_name_prefix="synthcheck-early") as beside:
            if image.pixels_ok and inference_threads() > 1:
                _start_early_work(image, runnable, beside)
            for analyzer in runnable:
                _run(analyzer, image, report)

        if report.classifier is None:
            report.evidence.append(classifier_unavailable())
        # The weights of measured findings are fusion's, under this policy; listed as counted.
        report.evidence = weigh(report.evidence, policy)
        report.risk = fuse(report.evidence, policy)
        report.timings_ms["total"] = _ms(started)
        return report


def _start_early_work(image: ImageInput, analyzers: list[Analyzer], beside: ThreadPoolExecutor) -> None:
    """Start each analyzer's early work (the face detector) on the second thread, so that it runs
    while the analyzers ahead of it (the classifier) run in this one: ONNX Runtime leaves its
    threads idle between small operators, and the second thread fills them (bench/
    bench_early_work.py: 1 MP -17 to -35 ms, 12 MP -40 to -60 ms on 2 cores). Only where this
    process has threads to spare: a worker process runs one thread, with nothing to overlap."""
    try:
        image.rgb  # noqa: B018  (converted here, once, before two threads read it)
    except Exception:  # each analyzer then meets the failure itself, isolated: nothing starts early
        return
    for analyzer in analyzers:
        if analyzer.early_work is not None:
            image.early[analyzer.name] = beside.submit(analyzer.early_work, image)


def _run(analyzer: Analyzer, image: ImageInput, report: Report) -> None:
    """One analyzer's findings into the report; its failure becomes evidence, not a crash."""
    t = time.perf_counter()
    try:
        findings = analyzer.analyze(image)
    except Exception as exc:  # isolate: one analyzer's failure is evidence, not a crash
        report.evidence.append(Evidence(analyzer.name, "analyzer_failed",
                                        f"The {analyzer.name} check failed on this file: "
                                        f"{type(exc).__name__}: {exc}", 0.0))
        report.timings_ms[analyzer.name] = _ms(t)
        return
    # the time analyze() added in this thread; early work done beside the others is not in it
    report.timings_ms[analyzer.name] = _ms(t)
    report.evidence.extend(findings.evidence)
    if findings.provenance is not None:
        report.provenance = findings.provenance
    if findings.metadata is not None:
        report.metadata = {**(report.metadata or {}), **findings.metadata}
    if findings.classifier is not None:
        report.classifier = image.classified = findings.classifier
    if findings.faces is not None:
        report.faces = findings.faces


def _failed(report: Report, exc: SynthcheckError, started: float) -> Report:
    report.error = ReportError(exc.code, exc.message)
    report.timings_ms["total"] = _ms(started)
    return report


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


@lru_cache(maxsize=8)
def get_scanner(options: AnalysisOptions) -> Scanner:
    """One Scanner per distinct options, per process (CLI workers reuse theirs)."""
    return Scanner(options)


def warm_up(options: AnalysisOptions) -> None:
    """Load this process's models and pay every one-off cost of a first analysis now, on a
    small noise JPEG: worker processes call it in their initializer, so that a per-file
    timeout measures the analysis of a file, never a worker's start-up (a worker replaced
    after a timeout warms up again before it takes the next file)."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buffer, "JPEG")
    get_scanner(options).analyze(buffer.getvalue(), "default", path="warm-up")


def analyze(source: str | Path | bytes, policy: str | Policy = "default",
            options: AnalysisOptions | None = None) -> Report:
    """Analyse one image (a path or its bytes) and return its Report."""
    return get_scanner(options or AnalysisOptions()).analyze(source, policy)
