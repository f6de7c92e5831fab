"""What every analyzer is: it declares which media types it handles and whether it
needs decoded pixels, and turns one ImageInput into Findings. The pipeline isolates
failures, so an analyzer may raise: its exception becomes an evidence item.

An analyzer reports what it found. A finding that carries a measurement (the classifier's
probability, a face's) is weighed by fusion, under the policy (fusion.WEIGHERS): its analyzer
leaves its weight at 0 and puts the measurement in its details. Any other finding carries a
constant weight, the likelihood ratio measured for that finding, the same under every
policy: nothing is left to compute, so its analyzer sets it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..image_input import ImageInput
from ..options import AnalysisOptions
from ..report import ClassifierResult, Evidence, FaceResult, Provenance


@dataclass
class Findings:
    evidence: list[Evidence] = field(default_factory=list)
    # Report sections an analyzer owns; None means "this analyzer says nothing about it".
    provenance: Provenance | None = None
    metadata: dict[str, Any] | None = None
    classifier: ClassifierResult | None = None
    faces: list[FaceResult] | None = None


class Analyzer(Protocol):
    name: str
    needs_pixels: bool
    early_work: Callable[[ImageInput], Any] | None

    def handles(self, media_type: str) -> bool: ...

    def analyze(self, image: ImageInput) -> Findings: ...


class AnalyzerBase:
    """Defaults for the Analyzer protocol: byte-level, every media type."""

    name: str
    needs_pixels = False
    media_types: frozenset[str] | None = None  # None: every media type
    # The part of the work that reads only the decoded pixels, not what the analyzers ahead of
    # this one found (the faces check's detector, while the classifier runs): a method taking
    # the ImageInput, which the pipeline may start on another thread as soon as the pixels are
    # decoded; analyze() then reads its result with image.early_result(name, work). None: no
    # such part.
    early_work: Callable[[ImageInput], Any] | None = None

    def __init__(self, options: AnalysisOptions):
        self.options = options

    def handles(self, media_type: str) -> bool:
        return self.media_types is None or media_type in self.media_types

    def analyze(self, image: ImageInput) -> Findings:
        raise NotImplementedError
