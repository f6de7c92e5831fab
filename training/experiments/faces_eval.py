"""Does scoring the faces help? Face-level against whole-image scores, and the weights of
the faces analyzer (detector/analyzers/faces.py), measured on images the classifier never
trained on: the shipped model's source-held-out validation split (training/configs/clip-v2.json:
half of deepface, the Nano Banana Pro posts, GPT Image 2 cases 7/12/19/31, ...), each
image that has a face, clean and laundered (half size, JPEG 75).

    python training/experiments/faces_eval.py [--model synthcheck-clip-v6] [--fresh]

The images are the retired synthcheck-clip-v2's validation split (`--split-card`), which the face
head (synthcheck-faces-v1, trained on that card's training split) never saw. The whole-image
models since clip-v3 are estimated leave-source-out and then trained on every image, these
included: with them the whole-image and fused scores of the untouched images are in-sample
(flattering), while the face scores stay held out.

Besides the untouched images it builds composites from the same held-out images, the
KYC fraud the whole-image score is blind to: a generated face window (1.5x the face, at
native resolution, feathered edge) pasted over the face of a real photo ("swap"), and a
real face over a generated scene ("paste"). Nothing here feeds training; the rows are
cached in the synthcheck cache (experiments/faces_eval.json; --fresh recomputes).

Prints: the fitted face weight (logistic fit of the label on the classifier's weight as an
offset plus b x face logit) for untouched images (the moderation question: is the image
generated?) and for untouched + swaps (the KYC question: is the face generated?); AUC of
the whole-image score, the most-generated face and the fused score per set, with the
paired bootstrap sd of face - whole; and how often face and background disagree, per set.
--tight, --face-margin and --background-margin measure other window rules."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
from pathlib import Path

import numpy as np

from synthcheck.analyzers.classifier import scored_result
from synthcheck.analyzers.faces import (
    WINDOWS,
    FaceScores,
    WindowRule,
    classifier_crops,
    disagreement_gap,
    face_evidence,
    score_faces,
)
from synthcheck.cache import cache_root
from synthcheck.datasets.records import load_pixels
from synthcheck.fusion import classifier_evidence, fuse, logit, weigh
from synthcheck.models import DEFAULT_MODEL, ModelCard, load_classifier
from synthcheck.models.face_probe import DEFAULT_FACE_HEAD, load_face_head, person_gate_for
from synthcheck.models.faces import FaceDetector
from synthcheck.policy import POLICIES
from synthcheck.report import ClassifierResult, FaceResult
from synthcheck.training.clip_features import validation_records
from synthcheck.training.face_probe import paste_face
from synthcheck.training.metrics import auc, launder

CONDITIONS = ("clean", "laundered")
SPLIT_CARD = Path("training/experiments/retired/synthcheck-clip-v2/card.json")


def measure(rgb: np.ndarray, model, face_model, detector: FaceDetector, rule: WindowRule, person_gate=None,
            background_from_map: bool = True) -> dict:
    """What the faces check sees of one image: the faces it judged (the person gate, when given,
    turns statues, paintings and animals away first, as the analyzer does) and the background
    (read off the classifier's crops as the analyzer does, or, with background_from_map False,
    always from windows of a 4x4 grid scored for the check)."""
    faces = detector(rgb)
    whole = scored_result(model, rgb)  # as the classifier analyzer reports it
    map_crops = classifier_crops(whole)
    scores = score_faces(rgb, [(f.x, f.y, f.w, f.h, f.score) for f in faces], face_model, model, rule,
                         person_gate=person_gate, map_crops=map_crops if background_from_map else None)
    judged = [f for f in scores.faces if f.p_generated is not None]
    return {"whole": whole.p_generated, "background_from_map": scores.background_from_map,
            "faces": [f.p_generated for f in judged],
            "boxes": [f.box for f in judged],
            "p_person": [f.p_person for f in judged],
            "turned_away": sum(f.p_generated is None for f in scores.faces),
            "background": scores.background_p}


def collect(model_name: str, rule: WindowRule, face_head: str | None, split_card: Path, gate: bool = True,
            background_from_map: bool = True) -> list[dict]:
    model = load_classifier(model_name)
    face_model = load_face_head(face_head, model) if face_head else model
    person_gate = person_gate_for(model) if gate else None
    detector = FaceDetector(threads=2)
    rows = []
    with_faces: dict[int, list[tuple[np.ndarray, list[int]]]] = {0: [], 1: []}
    records = validation_records(ModelCard.load(split_card))
    for i, record in enumerate(records):
        rgb = load_pixels(record)
        for condition in CONDITIONS:
            image = rgb if condition == "clean" else launder(rgb)
            row = measure(image, model, face_model, detector, rule, person_gate, background_from_map)
            if row["faces"]:
                rows.append({"set": "untouched", "label": record.label, "group": record.group,
                             "condition": condition, **row})
                if condition == "clean":
                    with_faces[record.label].append((rgb, row["boxes"][0]))
        if i % 50 == 0:
            print(f"{i}/{len(records)} images, {len(rows)} rows with a face", flush=True)
    rng = random.Random(0)
    for name, targets, donors in (("swap", with_faces[0], with_faces[1]), ("paste", with_faces[1], with_faces[0])):
        for rgb, box in targets:
            donor, donor_box = rng.choice(donors)
            composite = paste_face(rgb, tuple(box), donor, tuple(donor_box))
            for condition in CONDITIONS:
                image = composite if condition == "clean" else launder(composite)
                row = measure(image, model, face_model, detector, rule, person_gate, background_from_map)
                if row["faces"]:
                    rows.append({"set": name, "label": 1, "group": name, "condition": condition, **row})
    return rows


def face_feature(row: dict, positive_only: bool) -> float:
    z = logit(max(row["faces"]))
    return max(0.0, z) if positive_only else z


def fit_face_weight(rows: list[dict], positive_only: bool = False) -> float:
    """b in sigmoid(clip(logit whole, +-4) + b x f(max face)), by balanced log-loss, where f
    is the face logit (or only its part for AI). The classifier's weight is an offset: b is
    what the face adds to what fusion already counts."""
    y = np.array([r["label"] for r in rows], float)
    offset = np.clip([logit(r["whole"]) for r in rows], -4, 4)
    face = np.array([face_feature(r, positive_only) for r in rows])
    weights = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))

    def loss(b: float) -> float:
        z = offset + b * face
        return float(np.sum(weights * (np.logaddexp(0, z) - y * z)))

    grid = np.linspace(-1, 3, 401)  # steps of 0.01
    return float(grid[int(np.argmin([loss(b) for b in grid]))])


def paired_auc_gain(y: np.ndarray, base: np.ndarray, other: np.ndarray, resamples: int = 300) -> tuple[float, float]:
    """AUC(other) - AUC(base) and its bootstrap sd (rows resampled, both scores together)."""
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if len(set(y[idx])) == 2:
            gains.append(auc(y[idx], other[idx]) - auc(y[idx], base[idx]))
    return auc(y, other) - auc(y, base), float(np.std(gains))


def level(row: dict, policy) -> str:
    """The level the classifier and the faces check alone give this row (the shipped fusion)."""
    faces = FaceScores([FaceResult(box, 1.0, p) for box, p in zip(row["boxes"], row["faces"])], row["background"], [])
    evidence = [classifier_evidence(ClassifierResult("", "", row["whole"])), *face_evidence(faces)]
    return fuse(weigh(evidence, policy), policy).level


B_GRID = (0.0, 0.25, 0.5, 1.0)


def operating_points(rows: list[dict]) -> None:
    """Share of each set at medium-or-above and at high, per policy and face weight b; and
    the rule's choice per policy: the largest b on the grid that puts no more real faces at
    the policy's `high` than b = 0 does (a face score may find more fakes, never more false
    alarms at the level that acts)."""
    sets = {"real": [r for r in rows if r["set"] == "untouched" and r["label"] == 0],
            "generated": [r for r in rows if r["set"] == "untouched" and r["label"] == 1],
            "swap": [r for r in rows if r["set"] == "swap"], "paste": [r for r in rows if r["set"] == "paste"]}
    print("\n| policy | b | " + " | ".join(f"{k} >= medium / high" for k in sets) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in sets) + " |")
    chosen_b = {}
    for name in ("default", "moderation", "kyc"):
        real_high = {}
        for b in B_GRID:
            policy = dataclasses.replace(POLICIES[name], face_score_weight=b)
            cells = []
            for key, members in sets.items():
                levels = [level(r, policy) for r in members]
                if key == "real":
                    real_high[b] = sum(x == "high" for x in levels)
                cells.append(f"{sum(x != 'low' for x in levels) / len(levels):.2f} / "
                             f"{sum(x == 'high' for x in levels) / len(levels):.2f}")
            shipped = " (shipped)" if b == POLICIES[name].face_score_weight else ""
            print(f"| {name} | {b:g}{shipped} | " + " | ".join(cells) + " |")
        chosen_b[name] = max(b for b in B_GRID if real_high[b] <= real_high[0.0])
    print("rule's choice of b: " + ", ".join(f"{k} {v:g}" for k, v in chosen_b.items()))


def disagrees(row: dict, gap: float) -> bool:
    return row["background"] is not None and max(disagreement_gap(f, row["background"]) for f in row["faces"]) >= gap


def report(rows: list[dict]) -> None:
    untouched = [r for r in rows if r["set"] == "untouched"]
    # KYC asks whether the person's face is generated: untouched images plus swaps (a generated
    # face in a real photo); a paste (a real face on a generated scene) is the disagreement's
    # business, not the face score's.
    swaps = [r for r in rows if r["set"] == "swap"]
    questions = {"moderation (untouched)": untouched, "kyc (untouched + swaps)": untouched + swaps}
    fits = {(q, pos): fit_face_weight(chosen, pos) for q, chosen in questions.items() for pos in (False, True)}
    for (question, pos), b in fits.items():
        print(f"face weight b, {question}, {'face logit for AI only' if pos else 'face logit'}: {b:+.2f}")
    b = fits[("kyc (untouched + swaps)", True)]
    real = [r for r in untouched if r["label"] == 0]
    print("\n| set | condition | n real / AI | AUC whole | AUC max face | face - whole (sd) "
          f"| AUC whole + {b:.2f} x face+ |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ("untouched", "swap", "paste"):
        for condition in CONDITIONS:
            positives = [r for r in rows if r["set"] == name and r["label"] == 1 and r["condition"] == condition]
            negatives = [r for r in real if r["condition"] == condition]
            both = negatives + positives
            y = np.array([r["label"] for r in both])
            whole = np.array([r["whole"] for r in both])
            face = np.array([max(r["faces"]) for r in both])
            fused = np.array([np.clip(logit(r["whole"]), -4, 4) + b * face_feature(r, True) for r in both])
            gain, sd = paired_auc_gain(y, whole, face)
            print(f"| {name} | {condition} | {len(negatives)} / {len(positives)} | {auc(y, whole):.3f} | "
                  f"{auc(y, face):.3f} | {gain:+.3f} ({sd:.3f}) | {auc(y, fused):.3f} |")
    with_background = [r for r in rows if r["background"] is not None]
    from_map = sum(bool(r.get("background_from_map")) for r in with_background)
    print(f"\nbackground read off the classifier's crops in {from_map} of {len(with_background)} rows with one "
          "(else 4x4-grid windows)")
    print("face/background disagreement (both sides of 0.5, logit gap), where a face-free window exists:")
    for gap in (2.0, 3.0, 4.0):
        groups = {"real": [r for r in real if r["background"] is not None],
                  "AI": [r for r in untouched if r["label"] == 1 and r["background"] is not None],
                  "composites": [r for r in rows if r["set"] != "untouched" and r["background"] is not None]}
        hits = {k: sum(disagrees(r, gap) for r in v) for k, v in groups.items()}
        (nr, tr), (nc, tc) = (hits["real"], len(groups["real"])), (hits["composites"], len(groups["composites"]))
        ratio = ((nc + 0.5) / (tc + 1)) / ((nr + 0.5) / (tr + 1))  # +0.5: no zero counts
        print(f"gap >= {gap}: real {nr}/{tr}, untouched AI {hits['AI']}/{len(groups['AI'])}, composites {nc}/{tc}; "
              f"ln likelihood ratio composite vs real {math.log(ratio):+.2f}")
    operating_points(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--split-card", type=Path, default=SPLIT_CARD,
                        help="the card whose validation split is scored (default: the retired clip-v2's)")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--face-margin", type=float, default=WINDOWS.face_margin)
    parser.add_argument("--tight", action="store_true", help="no minimum face window (small faces padded by "
                        "reflection) instead of at least one classifier crop")
    parser.add_argument("--background-margin", type=float, default=WINDOWS.background_margin)
    parser.add_argument("--background", choices=("map", "windows"), default="map",
                        help="read the background off the classifier's crops where one is face-free (the "
                        "analyzer's rule), or always from 4x4-grid windows scored for the check")
    parser.add_argument("--face-head", default=DEFAULT_FACE_HEAD,
                        help="the head that scores face windows ('none': the whole-image head)")
    args = parser.parse_args()
    face_head = None if args.face_head == "none" else args.face_head
    rule = WindowRule(args.face_margin, 0 if args.tight else None, args.background_margin)
    variant = (f"m{rule.face_margin:g}-{'tight' if args.tight else 'crop'}-b{rule.background_margin:g}"
               + (f"-{face_head}" if face_head else "") + f"-bg{args.background}")
    print(f"window rule {rule} ({variant})")
    cache = cache_root() / "experiments" / f"faces_eval-{args.model}-{variant}.json"
    if args.fresh or not cache.is_file():
        rows = collect(args.model, rule, face_head, args.split_card, background_from_map=args.background == "map")
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(rows))
    report(json.loads(cache.read_text()))


if __name__ == "__main__":
    main()
