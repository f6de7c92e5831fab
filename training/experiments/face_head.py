"""The lever after two window rules stalled (faces_eval.py): what the head is trained on.
A second logistic head on the same CLIP features, trained on *face windows* (the shipped
window rule) of the training split, with face swaps built from training images as positives;
compared with the shipped head on the same held-out face windows and composites.

    python training/experiments/face_head.py [--donors 3] [--fresh]      # needs the train extra

Training set: every training-split image of training/configs/clip-v2.json with a detected face
(its largest face's window, clean and laundered), plus swaps: each real training face with
`--donors` generated training faces pasted over it (face_probe.paste_face). The shipped face
head (`synthcheck train training/configs/faces-v1.json`) is the first recipe; this script is
where the second was measured and refused. Validation: the
validation split's faces and one swap per real face, as in faces_eval.py. Features are
cached in the synthcheck cache (experiments/face_head-*.npz)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from synthcheck.cache import cache_root
from synthcheck.datasets.records import load_pixels
from synthcheck.models import load_classifier
from synthcheck.models.faces import FaceDetector
from synthcheck.training.clip_features import ClipTrainConfig, fit_head, split_items
from synthcheck.training.face_probe import largest_face, paste_face, window_features
from synthcheck.training.metrics import auc, launder

CONFIG = Path("training/configs/clip-v2.json")


def build(split: str, donors: int, model, detector: FaceDetector) -> dict[str, np.ndarray]:
    records = split_items(ClipTrainConfig.load(CONFIG), Path.cwd())[split]
    rows: list[tuple[np.ndarray, int, str, str, str]] = []  # feature, label, group, set, condition
    faces: dict[int, list[tuple[np.ndarray, list[int], str]]] = {0: [], 1: []}
    for i, record in enumerate(records):
        rgb = load_pixels(record)
        box = largest_face(rgb, detector)
        if box is None:
            continue
        faces[record.label].append((rgb, box, record.group))
        for condition, image, found in (("clean", rgb, box), ("laundered", launder(rgb), None)):
            feature = window_features(image, model, detector, found)
            if feature is not None:
                rows.append((feature, record.label, record.group, "untouched", condition))
        if i % 200 == 0:
            print(f"{split}: {i}/{len(records)} images, {len(rows)} face rows", flush=True)
    rng = random.Random(0)
    # "swap": a generated face over a real one (label 1). "splice" (validation only, the
    # control): a *real* face over another real one, the same paste (label 0): a head that
    # flags it has learnt the paste, not the generator.
    kinds = [("swap", 1, faces[1])] + ([("splice", 0, faces[0])] if split == "validation" else [])
    for name, label, pool in kinds:
        for rgb, box, group in faces[0]:
            others = [d for d in pool if d[0] is not rgb]
            for donor, donor_box, _ in rng.sample(others, min(donors, len(others))):
                composite = paste_face(rgb, box, donor, donor_box)
                for condition, image in (("clean", composite), ("laundered", launder(composite))):
                    feature = window_features(image, model, detector)
                    if feature is not None:
                        rows.append((feature, label, f"{name}:{group}", name, condition))
    print(f"{split}: {len(rows)} rows ({len(faces[0])} real and {len(faces[1])} generated images with a face)")
    return {"x": np.stack([r[0] for r in rows]), "y": np.array([r[1] for r in rows]),
            "group": np.array([r[2] for r in rows]), "set": np.array([r[3] for r in rows]),
            "condition": np.array([r[4] for r in rows])}


def load_or_build(split: str, donors: int, fresh: bool, model, detector) -> dict[str, np.ndarray]:
    path = cache_root() / "experiments" / f"face_head-{split}-d{donors}.npz"
    if fresh or not path.is_file():
        data = build(split, donors, model, detector)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **data)
    return dict(np.load(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    model = load_classifier("synthcheck-clip-v2")
    detector = FaceDetector(threads=2)
    train = load_or_build("train", args.donors, args.fresh, model, detector)
    val = load_or_build("validation", 1, args.fresh, model, detector)
    heads = {"shipped head": model.head}
    for name, keep in (("face head, untouched only", train["set"] == "untouched"),
                       ("face head, untouched + swaps", np.ones(len(train["y"]), bool))):
        heads[name] = fit_head(train["x"][keep], train["y"][keep].astype(float), list(train["group"][keep]),
                               args.weight_decay)
    print(f"train rows: {len(train['y'])} ({int((train['y'] == 0).sum())} real, "
          f"{int(((train['y'] == 1) & (train['set'] == 'untouched')).sum())} generated, "
          f"{int((train['set'] == 'swap').sum())} swaps)")
    columns = [(chosen, condition) for chosen in ("untouched", "swap") for condition in ("clean", "laundered")]
    print("| head | " + " | ".join(f"AUC {s} {c}" for s, c in columns) + " | splices (real on real) scored >= 0.5 |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = heads["shipped head"](val["x"])
    rng = np.random.default_rng(0)
    for name, head in heads.items():
        z = head(val["x"])
        cells = []
        for chosen, condition in columns:
            real = (val["set"] == "untouched") & (val["y"] == 0)
            keep = (val["condition"] == condition) & (real | (val["set"] == chosen) & (val["y"] == 1))
            y, zz, bb = val["y"][keep], z[keep], base[keep]
            gains = []
            for _ in range(300):  # paired bootstrap of the gain over the shipped head
                idx = rng.integers(0, len(y), len(y))
                if len(set(y[idx])) == 2:
                    gains.append(auc(y[idx], zz[idx]) - auc(y[idx], bb[idx]))
            cells.append(f"{auc(y, zz):.3f} ({auc(y, zz) - auc(y, bb):+.3f} ± {np.std(gains):.3f})")
        splices = val["set"] == "splice"
        # the shipped head's temperature stands in for a fitted one: only the sign matters here
        flagged = int((z[splices] >= 0).sum())
        print(f"| {name} | " + " | ".join(cells) + f" | {flagged} of {int(splices.sum())} |")
    print(f"validation: {int(((val['set'] == 'untouched') & (val['y'] == 0)).sum())} real face rows, "
          f"{int(((val['set'] == 'untouched') & (val['y'] == 1)).sum())} generated, "
          f"{int((val['set'] == 'swap').sum())} swaps, {int((val['set'] == 'splice').sum())} splices")


if __name__ == "__main__":
    main()
