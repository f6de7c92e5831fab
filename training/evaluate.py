"""`synthcheck eval`: measure a classifier on labelled images, clean and laundered.

Prints and writes AUC, average precision, balanced accuracy at the card's threshold,
ECE, a per-group table (source and generator or camera make), and the share of real
photos that the classifier alone would push to level `high` (default policy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..datasets import ImageRecord, load_folder, load_manifest, load_pixels
from ..fusion import classifier_evidence, fuse
from ..policy import POLICIES
from ..report import ClassifierResult
from .metrics import auc, average_precision, balanced_accuracy, expected_calibration_error, launder

if TYPE_CHECKING:  # evaluating a CLIP model needs no torch
    from ..models.clip_probe import ClipProbeClassifier


def evaluation_pixels(record: ImageRecord, laundered: bool) -> np.ndarray:
    """An image as evaluated: decoded, and laundered for the laundered condition."""
    rgb = load_pixels(record)
    return launder(rgb) if laundered else rgb


def predict_all(classifier: ClipProbeClassifier, records: list[ImageRecord], laundered: bool) -> np.ndarray:
    return np.array([classifier.predict(evaluation_pixels(r, laundered)).p_generated for r in records])


def summary_metrics(labels: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    return {"auc": round(auc(labels, p), 4), "average_precision": round(average_precision(labels, p), 4),
            "balanced_accuracy": round(balanced_accuracy(labels, p, threshold), 4),
            "ece": round(expected_calibration_error(labels, p), 4), "n": int(len(labels)),
            "n_generated": int(labels.sum()), "real_at_level_high": real_at_level_high(p, labels)}


def per_group_table(records: list[ImageRecord], p: np.ndarray, threshold: float) -> dict[str, dict[str, Any]]:
    """Per group (source with generator or camera make): size, label, mean p, share called generated."""
    table = {}
    for group in sorted({r.group for r in records}):
        mask = np.array([r.group == group for r in records])
        label = next(r.label for r in records if r.group == group)
        table[group] = {"n": int(mask.sum()), "label": "generated" if label else "real",
                        "mean_p_generated": round(float(p[mask].mean()), 4),
                        "called_generated": round(float((p[mask] >= threshold).mean()), 4)}
    return table


def matches(group: str, pattern: str) -> bool:
    """`pattern` names groups: exactly, by source (`deepface:`) or by maker (`:apple`)."""
    if pattern.endswith(":"):
        return group.startswith(pattern)
    if pattern.startswith(":"):
        return group.endswith(pattern)
    return group == pattern


def category_table(records: list[ImageRecord], p: np.ndarray, categories: dict[str, list[str]]) -> dict[str, Any]:
    """Per category of a card's report (GPT Image 2, faces, receipts, phones, artwork...):
    size, mean p, share at level `high` and the AUC of the category against every image of
    the other class (a generated category ranked against all real ones, a real category
    against all generated ones)."""
    labels = np.array([r.label for r in records])
    table = {}
    for name, patterns in categories.items():
        mask = np.array([any(matches(r.group, q) for q in patterns) for r in records])
        if not mask.any():
            continue
        label = int(labels[mask][0])
        if (labels[mask] != label).any():
            raise ValueError(f"category {name!r} mixes real and generated groups")
        other = labels != label
        pick = mask | other
        levels = [fuse([classifier_evidence(ClassifierResult("", "", float(q)))], POLICIES["default"]).level
                  for q in p[mask]]
        table[name] = {"label": "generated" if label else "real", "n": int(mask.sum()),
                       "groups": sorted({r.group for r, m in zip(records, mask) if m}),
                       "mean_p_generated": round(float(p[mask].mean()), 4),
                       "at_level_high": round(float(np.mean([lvl == "high" for lvl in levels])), 4),
                       "auc_against_other_class": round(auc(labels[pick], p[pick]), 4)}
    return table


def real_at_level_high(p: np.ndarray, labels: np.ndarray, policy: str = "default") -> float:
    """Share of real images whose classifier evidence alone reaches `high`: the false alarms
    an analyst would see first (the issue's target is at most 1% on real camera photos)."""
    levels = [fuse([classifier_evidence(ClassifierResult("", "", float(q)))], POLICIES[policy]).level
              for q in p[labels == 0]]
    return round(float(np.mean([lvl == "high" for lvl in levels])), 4) if levels else float("nan")


def high_cut(policy: str) -> float:
    """The smallest p at which the classifier's evidence alone reaches `high` under `policy`
    (bisection; real_at_level_high's rule, which is monotonic in p)."""
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if real_at_level_high(np.array([mid]), np.array([0.0]), policy) > 0:
            hi = mid
        else:
            lo = mid
    return hi


def paired_group_bootstrap(y: np.ndarray, groups: list[str], a: np.ndarray, b: np.ndarray, n: int = 300,
                           policies: tuple[str, ...] = ("default", "kyc"), seed: int = 0) -> dict[str, np.ndarray]:
    """b minus a over `n` resamples of whole groups (a source is the unit that varies, so it is
    what is resampled; both score sets see the same resamples): AUC, and the share of real and of
    generated images whose classifier evidence alone reaches `high`, per policy. name -> [n]."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    group_of = np.array(groups)
    index = {g: np.flatnonzero(group_of == g) for g in names}
    cut = {pol: high_cut(pol) for pol in policies}  # found once, compared after
    rows: dict[str, list[float]] = {"auc": []}
    for _ in range(n):
        pick = np.concatenate([index[g] for g in rng.choice(names, len(names))])
        rows["auc"].append(auc(y[pick], b[pick]) - auc(y[pick], a[pick]))
        for label, name in ((0, "real"), (1, "generated")):
            chosen = pick[y[pick] == label]
            for pol in policies:
                rows.setdefault(f"{name}_high_{pol}", []).append(
                    float(np.mean(b[chosen] >= cut[pol]) - np.mean(a[chosen] >= cut[pol])) if len(chosen) else np.nan)
    return {k: np.array(v) for k, v in rows.items()}


def evaluate(classifier: ClipProbeClassifier, records: list[ImageRecord], launder_too: bool = True) -> dict[str, Any]:
    labels = np.array([r.label for r in records])
    threshold = classifier.card.threshold
    results: dict[str, Any] = {"model": f"{classifier.card.name} {classifier.card.version}"}
    conditions = [("clean", False)] + ([("laundered (0.5x resize, JPEG 75)", True)] if launder_too else [])
    for condition, laundered in conditions:
        p = predict_all(classifier, records, laundered)
        groups = per_group_table(records, p, threshold)
        results[condition] = {**summary_metrics(labels, p, threshold), "per_group": groups}
    return results


def load_records(manifest: str | None, folder: str | None) -> list[ImageRecord]:
    if manifest:
        return load_manifest(manifest)
    if folder:
        return load_folder(folder)
    raise ValueError("give --manifest ROOT or --folder ROOT, or neither to re-run the card's validation split")


def print_results(results: dict[str, Any]) -> None:
    print(results["model"])
    for condition, r in results.items():
        if not isinstance(r, dict):
            continue
        print(f"\n{condition}: AUC {r['auc']}, AP {r['average_precision']}, balanced accuracy "
              f"{r['balanced_accuracy']}, ECE {r['ece']}, n {r['n']} ({r['n_generated']} generated), "
              f"real photos at level high: {r['real_at_level_high']:.2%}")
        print(f"  {'group':<34}{'label':<10}{'n':>5}{'mean p':>9}{'called gen.':>13}")
        for group, g in r["per_group"].items():
            print(f"  {group:<34}{g['label']:<10}{g['n']:>5}{g['mean_p_generated']:>9.3f}"
                  f"{g['called_generated']:>13.2%}")


def write_json(results: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(results, indent=2) + "\n")
