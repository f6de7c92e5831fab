"""How many threads each model's forward pass may use in this process."""

from __future__ import annotations

import os

_inference_threads: int | None = None


def set_inference_threads(threads: int) -> None:
    """Threads for each model's forward pass in this process (1 in a worker process: N
    workers x all-cores threads would oversubscribe the machine). The ONNX Runtime sessions
    opened after this read it."""
    global _inference_threads
    _inference_threads = max(1, int(threads))


def inference_threads() -> int:
    """The threads set for this process, else the CPU count (at most 4 help one image)."""
    return _inference_threads or min(4, os.cpu_count() or 1)
