"""The one explicit list of analyzers, in the order they run and are reported."""

from __future__ import annotations

from ..options import AnalysisOptions
from .base import Analyzer, Findings
from .c2pa_provenance import C2paAnalyzer
from .classifier import ClassifierAnalyzer
from .dimensions import DimensionsAnalyzer
from .faces import FacesAnalyzer
from .generator_text import GeneratorTextAnalyzer
from .jpeg_quant import JpegQuantAnalyzer
from .metadata import MetadataAnalyzer
from .watermark import WatermarkAnalyzer

ANALYZER_TYPES = (
    C2paAnalyzer,
    MetadataAnalyzer,
    GeneratorTextAnalyzer,
    JpegQuantAnalyzer,
    WatermarkAnalyzer,
    DimensionsAnalyzer,
    ClassifierAnalyzer,
    FacesAnalyzer,
)


def list_analyzers() -> list[str]:
    return [t.name for t in ANALYZER_TYPES]


def create_analyzers(options: AnalysisOptions) -> list[Analyzer]:
    """Build every analyzer for these options. Construction is cheap; heavy state is
    created on first use and then reused for every file."""
    return [t(options) for t in ANALYZER_TYPES]


__all__ = ["Analyzer", "Findings", "ANALYZER_TYPES", "create_analyzers", "list_analyzers"]
