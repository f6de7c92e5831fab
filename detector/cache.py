"""Where synthcheck keeps what it builds outside the repository: backbones, corpora,
feature caches. A module of its own so that the dataset code and the CLI find the cache
without importing the backbone code."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$SYNTHCHECK_CACHE, else $XDG_CACHE_HOME/synthcheck, else ~/.cache/synthcheck."""
    if os.environ.get("SYNTHCHECK_CACHE"):
        return Path(os.environ["SYNTHCHECK_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "synthcheck"
