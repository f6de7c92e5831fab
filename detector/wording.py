"""Small helpers for the words a person reads: probabilities that never round to
certainty, and plurals."""

from __future__ import annotations


def percent(p: float) -> str:
    """0.9961 -> '> 99%', 0.004 -> '< 1%', 0.42 -> '42%': a probability short of
    certainty is never printed as 100% or 0%."""
    if p >= 1.0:
        return "100%"
    if p <= 0.0:
        return "0%"
    if p >= 0.995:
        return "> 99%"
    if p < 0.005:
        return "< 1%"
    return f"{p:.0%}"


def shown_probability(p: float) -> float:
    """A probability for a report: 4 decimals, never exactly 0 or 1 (evidence is never proof)."""
    return min(max(round(p, 4), 0.0001), 0.9999)


def score_text(p: float) -> str:
    """A score for a table column (two decimals, never 1.00 or 0.00 short of certainty)."""
    if 0.995 <= p < 1.0:
        return ">0.99"
    if 0.0 < p < 0.005:
        return "<0.01"
    return f"{p:.2f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """plural(1, 'file') -> '1 file'; plural(3, 'file') -> '3 files'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
