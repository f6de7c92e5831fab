"""Where the time goes, on the same files in one run: decode only, the whole pipeline,
each analyzer and the classifier's forward pass, for ~1 MP and ~12 MP JPEGs and ~1 MP
PNGs; images/s with 2 worker processes; peak memory per worker; the faces check on
1 MP images with 0, 1, 4 and 8 faces (the sample's real face pasted in): detector alone,
the whole check, and its cost per scored face. Then a soak: N analyses in one process
with its memory sampled, to show it stays flat.

    python bench/bench_perf.py [--files 6] [--soak 10000] [--json out.json]

Goal (issue 6, and since the faces check its detector): pipeline <= 3 x decode + one
classifier forward pass + one face-detector pass."""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthcheck import AnalysisOptions, testkit
from synthcheck.models import load_classifier, set_inference_threads
from synthcheck.pipeline import Scanner
from synthcheck.scan import scan

KINDS = {"jpeg_1mp": ((1280, 800), "JPEG"), "jpeg_12mp": ((4000, 3000), "JPEG"), "png_1mp": ((1280, 800), "PNG")}


def make_files(folder: Path, files_per_kind: int) -> dict[str, list[Path]]:
    out = {}
    for kind, (size, fmt) in KINDS.items():
        out[kind] = []
        for i in range(files_per_kind):
            path = folder / f"{kind}_{i}.{fmt.lower()}"
            path.write_bytes(testkit.encode(testkit.photo_like(*size, seed=i), fmt, **(
                {"quality": 90} if fmt == "JPEG" else {})))
            out[kind].append(path)
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_kind(scanner: Scanner, paths: list[Path]) -> dict:
    classifier = load_classifier()
    detector = next(a for a in scanner.analyzers if a.name == "faces").detector
    decode, forward, detect, totals, per_analyzer = [], [], [], [], {}
    for path in paths:
        t = time.perf_counter()
        rgb = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))
        decode.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        classifier.predict(rgb)
        forward.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        detector(rgb)
        detect.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        report = scanner.analyze(path)
        totals.append((time.perf_counter() - t) * 1000)
        for name, ms in report.timings_ms.items():
            per_analyzer.setdefault(name, []).append(ms)
    d, f, p = statistics.median(decode), statistics.median(forward), statistics.median(totals)
    fd = statistics.median(detect)
    return {"decode_only_ms": round(d, 1), "classifier_forward_ms": round(f, 1), "face_detector_ms": round(fd, 1),
            "pipeline_ms": round(p, 1), "pipeline_minus_networks_over_decode": round((p - f - fd) / d, 2),
            "goal_met": p <= 3 * d + f + fd,
            "per_step_ms": {k: round(statistics.median(v), 1) for k, v in per_analyzer.items()}}


FACE_SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "images" / "astronaut_face.jpg"


def measure_faces(scanner: Scanner, repeats: int = 3) -> dict:
    """The faces check's cost by number of faces, on 1 MP photo-like backgrounds."""
    analyzer = next(a for a in scanner.analyzers if a.name == "faces")
    head = np.asarray(Image.open(FACE_SAMPLE).convert("RGB"))[40:200, 160:290]
    out = {}
    for n in (0, 1, 4, 8):
        rgb = np.array(testkit.photo_like(1280, 800, seed=n))
        for i in range(n):
            y, x = 60 + (i // 4) * 340, 40 + (i % 4) * 310
            rgb[y : y + head.shape[0], x : x + head.shape[1]] = head
        data = testkit.encode(Image.fromarray(rgb), "JPEG", quality=90)
        detector, check, found = [], [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            found = len(analyzer.detector(rgb))
            detector.append((time.perf_counter() - t) * 1000)
            check.append(scanner.analyze(data).timings_ms["faces"])
        d, c = statistics.median(detector), statistics.median(check)
        out[f"{n}_faces"] = {"found": found, "detector_ms": round(d, 1), "faces_check_ms": round(c, 1),
                             "per_face_ms": round((c - d) / found, 1) if found else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=6, help="files per kind")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--soak", type=int, default=10000, help="analyses in the memory soak (0: skip)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    set_inference_threads(1)  # as in a worker: one process per core
    results: dict = {"threads_per_process": 1}
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), args.files)
        scanner = Scanner(AnalysisOptions())
        scanner.analyze(files["jpeg_1mp"][0])  # load the model outside the measurements
        for kind, paths in files.items():
            results[kind] = measure_kind(scanner, paths)
            all_paths = [str(p) for p in paths] * max(1, 24 // len(paths))
            t = time.perf_counter()
            reports = list(scan(all_paths, "default", AnalysisOptions(), workers=args.workers))
            wall = time.perf_counter() - t
            assert all(r.error is None for r in reports)
            results[kind][f"images_per_s_{args.workers}_workers"] = round(len(all_paths) / wall, 2)
            print(kind, json.dumps(results[kind]), flush=True)
        results["faces"] = measure_faces(scanner)
        print("faces", json.dumps(results["faces"]), flush=True)
        # ru_maxrss of children: the largest worker of all the pools above
        results["peak_worker_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
        print("peak worker RSS MB", results["peak_worker_rss_mb"], flush=True)
    if args.soak:
        images = [testkit.encode(testkit.photo_like(320, 240, seed=i), "JPEG", quality=85) for i in range(50)]
        scanner = Scanner(AnalysisOptions())
        samples = []
        t = time.perf_counter()
        for i in range(args.soak):
            scanner.analyze(images[i % len(images)])
            if i % 1000 == 0 or i == args.soak - 1:
                samples.append((i + 1, round(rss_mb(), 1)))
                print(f"soak {i + 1}: RSS {samples[-1][1]} MB", flush=True)
        results["soak"] = {"analyses": args.soak, "seconds": round(time.perf_counter() - t, 1),
                           "rss_mb_by_count": samples,
                           "rss_growth_after_first_1000_mb": round(samples[-1][1] - samples[1][1], 1)
                           if len(samples) > 1 else 0.0}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
