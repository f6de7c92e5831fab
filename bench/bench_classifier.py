"""Classifier latency: p50/p95 of predict() on a 1024x1024 image (and other sizes),
with the machine's threads (2 cores here).

    python bench/bench_classifier.py [--model NAME] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from synthcheck import testkit
from synthcheck.models import DEFAULT_MODEL, inference_threads, load_classifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    classifier = load_classifier(args.model)
    print(f"{args.model}: loaded in {(time.perf_counter() - started) * 1000:.0f} ms; threads "
          f"{inference_threads()}")
    for width, height in ((1024, 1024), (512, 512), (4032, 3024)):
        rgb = np.asarray(testkit.photo_like(width, height))
        classifier.predict(rgb)  # warm-up
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            classifier.predict(rgb)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        print(f"{width}x{height}: p50 {statistics.median(times):.0f} ms, "
              f"p95 {times[int(0.95 * (len(times) - 1))]:.0f} ms")


if __name__ == "__main__":
    main()
