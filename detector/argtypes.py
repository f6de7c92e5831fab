"""Argument types for the CLI's numeric options: a value that cannot work (-1 workers, a
timeout of 0 s, a pixel limit of 0) is a usage error, exit 2 with the option named, never
an error report for every file. argparse shows the ArgumentTypeError's text."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A type for a whole number from `minimum` (to `maximum`)."""
    span = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, got {value}")
        return value

    parse.__name__ = "whole number"  # argparse's fallback wording, if it ever shows it
    return parse


def positive_seconds(text: str) -> float:
    """A duration in seconds, more than 0 and finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text}")
    return value
