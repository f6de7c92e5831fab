"""Whole-image latency (issue 31): one photo through the whole pipeline (`analyze`: decode, every
check, the classifier's grid and the faces check) in one process with the machine's threads,
p50 / p95 over repeated runs, for a ~1 MP and a ~12 MP JPEG; and what the classifier covered
(its grid, the crops, the share of the pixels). Goal: <= 300 ms at 1 MP, <= 1.5 s at 12 MP on 2
cores. `--model` compares another shipped model on the same files; `--face` scans the bundled
astronaut portrait resized to each size instead (one face: the faces check scores its window and
compares it with the background).

    python bench/bench_whole_image.py [--model NAME] [--runs 10] [--face]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from synthcheck import AnalysisOptions, testkit
from synthcheck.models import DEFAULT_MODEL, inference_threads
from synthcheck.pipeline import Scanner

SIZES = {"1 MP": (1152, 864), "1 MP square": (1000, 1000), "12 MP": (4032, 3024)}
PORTRAIT = Path(__file__).resolve().parent.parent / "examples" / "images" / "astronaut_face.jpg"


def bench_photo(folder: Path, width: int, height: int, face: bool) -> Path:
    """A JPEG (q90) of this size in `folder`: a synthetic photo-like scene, or with `face` the bundled
    portrait resized (one face). bench_early_work.py scans the same files."""
    path = folder / f"{width}x{height}.jpg"
    picture = (Image.open(PORTRAIT).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
               if face else testkit.photo_like(width, height, seed=3))
    path.write_bytes(testkit.encode(picture, "JPEG", quality=90))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--face", action="store_true", help="the bundled portrait resized to each size")
    args = parser.parse_args()
    scanner = Scanner(AnalysisOptions(classifier=args.model))
    print(f"{args.model}: {inference_threads()} threads")
    with tempfile.TemporaryDirectory() as folder:
        for name, (width, height) in SIZES.items():
            path = bench_photo(Path(folder), width, height, args.face)
            report = scanner.analyze(path)  # warm-up: models loaded, graph initialised
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                report = scanner.analyze(path)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            coverage = report.classifier.coverage if report.classifier else None
            print(f"{name} ({width}x{height}): p50 {statistics.median(times):.0f} ms, "
                  f"p95 {times[int(0.95 * (len(times) - 1))]:.0f} ms; classifier "
                  f"{report.timings_ms.get('classifier', 0):.0f} ms, faces {report.timings_ms.get('faces', 0):.0f} ms; "
                  f"faces found {len(report.faces or [])}; covered: {coverage}")


if __name__ == "__main__":
    main()
