"""synthcheck: how likely is an image AI-generated or AI-edited, and why."""

from __future__ import annotations

__version__ = "0.1.0"

from .lazy import lazy_getattr  # noqa: E402

# The public names are imported on first use (PEP 562), so that `synthcheck --help` and
# light imports such as `synthcheck.errors` do not load c2pa, OpenCV or torch.
_EXPORTS = {
    "AnalysisOptions": "options", "ClassifierResult": "report", "Evidence": "report",
    "PIPELINE_VERSION": "pipeline", "POLICIES": "policy", "Policy": "policy", "Provenance": "report",
    "Report": "report", "Risk": "report", "Scanner": "pipeline", "SynthcheckError": "errors",
    "analyze": "pipeline",
}

__all__ = [*_EXPORTS, "__version__"]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
