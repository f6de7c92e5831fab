"""Measure scan speed on a folder: images/s and time per analyzer.

    python bench/bench_scan.py ../shared/data [--limit 300] [--workers 2]

Pass 1 runs analyze() in this process and reads each report's timings_ms (decode and
every analyzer, per file). Pass 2 runs the same files through the CLI's worker pool
and measures wall-clock throughput. Prints a table; --json writes the numbers."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict

from synthcheck import AnalysisOptions
from synthcheck.pipeline import Scanner
from synthcheck.scan import expand_inputs, scan


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=0, help="use at most this many files (0 = all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    paths = [p for p in expand_inputs([args.folder]) if not p.endswith((".csv", ".md", ".json", ".txt"))]
    if args.limit:
        paths = paths[: args.limit]
    scanner = Scanner(AnalysisOptions())
    scanner.analyze(paths[0])  # warm-up: library initialisation is not per-file cost

    per_stage: dict[str, list[float]] = defaultdict(list)
    megapixels = 0.0
    started = time.perf_counter()
    for path in paths:
        report = scanner.analyze(path)
        for stage, ms in report.timings_ms.items():
            per_stage[stage].append(ms)
        megapixels += (report.width or 0) * (report.height or 0) / 1e6
    serial_s = time.perf_counter() - started

    started = time.perf_counter()
    count = sum(1 for _ in scan(paths, workers=args.workers))
    pool_s = time.perf_counter() - started

    results = {
        "files": len(paths),
        "megapixels_mean": round(megapixels / len(paths), 3),
        "serial_images_per_s": round(len(paths) / serial_s, 2),
        f"pool_{args.workers}_workers_images_per_s": round(count / pool_s, 2),
        "stages_ms": {
            stage: {"mean": round(statistics.fmean(v), 2), "p50": round(percentile(v, 0.5), 2),
                    "p95": round(percentile(v, 0.95), 2)}
            for stage, v in per_stage.items()
        },
    }
    print(f"{len(paths)} files, mean {results['megapixels_mean']} MP")
    print(f"one process:        {results['serial_images_per_s']:8.2f} images/s")
    print(f"{args.workers} worker processes: {count / pool_s:8.2f} images/s (including pool start-up)")
    print(f"{'stage':<16}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for stage, row in results["stages_ms"].items():
        print(f"{stage:<16}{row['mean']:>10}{row['p50']:>10}{row['p95']:>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
