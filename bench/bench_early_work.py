"""What starting the face detector beside the classifier saves (issue 31's latency): the whole
pipeline on the same JPEGs as bench_whole_image.py, in one process, alternating two ways of
running it, p50 of each:

- beside: as shipped, on a machine with threads to spare: the pipeline starts the faces check's
  detector (one ONNX Runtime thread) on a second thread while the classifier runs;
- inline: as before, the detector after the classifier in the same thread, with as many
  ONNX Runtime threads as the classifier (what ran until 2026-12-08).

    python bench/bench_early_work.py [--face] [--rounds 6]

The two ways alternate round by round, so that a machine that slows down for a while (a shared
VM does) slows both."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_whole_image import SIZES, bench_photo  # this folder: the same sizes and files

import synthcheck.pipeline as pipeline
from synthcheck import AnalysisOptions
from synthcheck.models import inference_threads
from synthcheck.models.faces import FaceDetector
from synthcheck.pipeline import Scanner


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--face", action="store_true", help="the bundled portrait resized to each size")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    threads = inference_threads()
    if threads < 2:
        raise SystemExit("one inference thread here: the pipeline runs nothing beside, there is nothing to compare")
    scanner = Scanner(AnalysisOptions())
    faces = next(a for a in scanner.analyzers if a.name == "faces")
    ways = {  # name -> (threads the pipeline sees, the detector)
        "beside": (threads, FaceDetector(threads=1)),
        "inline": (1, FaceDetector(threads=threads)),
    }
    print(f"{threads} threads; p50 of the whole pipeline, {args.rounds} alternating rounds")
    with tempfile.TemporaryDirectory() as folder:
        for name, (width, height) in SIZES.items():
            path = bench_photo(Path(folder), width, height, args.face)
            times: dict[str, list[float]] = {way: [] for way in ways}
            for _ in range(args.rounds):
                for way, (seen_threads, detector) in ways.items():
                    # the bench swaps what the pipeline reads, to run the old way beside the new
                    pipeline.inference_threads = lambda seen_threads=seen_threads: seen_threads  # type: ignore[assignment]
                    faces.__dict__["detector"] = detector
                    scanner.analyze(path)  # the first run after a switch warms that way's session
                    for _ in range(4 if width * height < 4_000_000 else 2):
                        times[way].append(scanner.analyze(path).timings_ms["total"])
            beside, inline = (statistics.median(times[way]) for way in ways)
            print(f"{name} ({width}x{height}): beside {beside:.0f} ms, inline {inline:.0f} ms, "
                  f"difference {beside - inline:+.0f} ms")


if __name__ == "__main__":
    main()
