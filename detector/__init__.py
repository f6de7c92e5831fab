"""synthcheck: how likely is an image AI-generated or AI-edited, and why."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import SynthcheckError  # noqa: E402
from .options import AnalysisOptions  # noqa: E402
from .pipeline import PIPELINE_VERSION, Scanner, analyze  # noqa: E402
from .policy import POLICIES, Policy  # noqa: E402
from .report import ClassifierResult, Evidence, Provenance, Report, Risk  # noqa: E402

__all__ = [
    "AnalysisOptions", "ClassifierResult", "Evidence", "PIPELINE_VERSION", "POLICIES", "Policy",
    "Provenance", "Report", "Risk", "Scanner", "SynthcheckError", "analyze", "__version__",
]
