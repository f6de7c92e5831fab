"""The one explicit list of analyzers, in the order they run and are reported."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from ..options import AnalysisOptions
from .base import Analyzer, AnalyzerBase, Findings

# (module, class), in the order they run and are reported. The modules are imported when the
# list is first used, not when this package is: importing one analyzer module (metadata,
# say) must not load c2pa, OpenCV or onnxruntime through its siblings.
ANALYZERS: tuple[tuple[str, str], ...] = (
    ("c2pa_provenance", "C2paAnalyzer"),
    ("metadata", "MetadataAnalyzer"),
    ("generator_text", "GeneratorTextAnalyzer"),
    ("jpeg_quant", "JpegQuantAnalyzer"),
    ("watermark", "WatermarkAnalyzer"),
    ("dimensions", "DimensionsAnalyzer"),
    ("classifier", "ClassifierAnalyzer"),
    ("faces", "FacesAnalyzer"),
)


@cache
def analyzer_types() -> tuple[type[AnalyzerBase], ...]:
    # AnalyzerBase, not the Analyzer protocol: a protocol declares no constructor, and every
    # analyzer class is built from the options (create_analyzers)
    return tuple(getattr(importlib.import_module(f"{__name__}.{module}"), name) for module, name in ANALYZERS)


def list_analyzers() -> list[str]:
    return [t.name for t in analyzer_types()]


def create_analyzers(options: AnalysisOptions) -> list[Analyzer]:
    """Build every analyzer for these options. Construction is cheap; heavy state is
    created on first use and then reused for every file."""
    return [t(options) for t in analyzer_types()]


def __getattr__(name: str) -> Any:
    # ANALYZER_TYPES, as before, without importing every analyzer with this package (PEP 562)
    if name == "ANALYZER_TYPES":
        return analyzer_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Analyzer", "Findings", "ANALYZER_TYPES", "analyzer_types", "create_analyzers", "list_analyzers"]
