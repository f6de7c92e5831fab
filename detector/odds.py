"""Probabilities as log-odds: the one conversion analyzers (a measurement such as the gap
between a face and its background) and fusion (a weight) both need."""

from __future__ import annotations

import math


def logit(p: float) -> float:
    """ln(p / (1 - p)), with p kept within 1e-4 of 0 and 1 (a shown probability is never
    exactly 0 or 1, and a weight must stay finite)."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))
