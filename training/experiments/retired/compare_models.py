"""Experiment: several trained models, and the mean of their calibrated logits, on one
source-held-out validation split, clean and laundered (each image decoded and laundered
once for all models). Optionally re-scores with a larger crop grid than the cards' (more of
the image covered, more crops to run).

    python models/experiments/compare_models.py synthcheck-lite0-v4 models/synthcheck-lite0-v6 \
        [--max-grid 6] [--json out.json]

A model is a shipped name or a folder with card.json. All must share the validation split of
the first one's training config. Results of the runs so far are in models/experiments/README.md."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import time
from pathlib import Path

import numpy as np

from synthcheck.models import Classifier, load_classifier, load_classifier_from
from synthcheck.models.evaluate import evaluation_pixels, per_group_table, summary_metrics
from synthcheck.models.train import TrainConfig, gather_records


def load(model: str) -> Classifier:
    return load_classifier_from(model) if Path(model, "card.json").is_file() else load_classifier(model)


def with_grid(classifier: Classifier, max_grid: int) -> Classifier:
    prep = dataclasses.replace(classifier.card.preprocessing, max_grid=max_grid)
    return Classifier(card=dataclasses.replace(classifier.card, preprocessing=prep), members=classifier.members)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--max-grid", type=int, default=0, help="also score each model with this crop grid")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    classifiers = {Path(m).name: load(m) for m in args.models}
    if args.max_grid:
        classifiers |= {f"{name} grid {args.max_grid}": with_grid(c, args.max_grid)
                        for name, c in list(classifiers.items())}
    configs = [c.card.training["config"] for c in classifiers.values()]
    if any(cfg["validation_groups"] != configs[0]["validation_groups"] for cfg in configs):
        raise SystemExit("the models were validated on different splits")
    records = gather_records(TrainConfig.from_dict(configs[0]))["validation"]
    labels = np.array([r.label for r in records])

    logits: dict[str, dict[str, list[float]]] = {name: {"clean": [], "laundered": []} for name in classifiers}
    started = time.monotonic()
    for record in records:
        for condition in ("clean", "laundered"):
            rgb = evaluation_pixels(record, condition == "laundered")
            for name, classifier in classifiers.items():
                logits[name][condition].append(classifier.mean_logit(rgb) / classifier.card.temperature)
    print(f"scored {len(records)} images x {len(classifiers)} models in {time.monotonic() - started:.0f} s")

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    candidates = {name: {c: np.array(v) for c, v in by.items()} for name, by in logits.items()}
    for a, b in itertools.combinations(list(logits), 2):  # mean of calibrated logits
        candidates[f"mean({a}, {b})"] = {c: (np.array(logits[a][c]) + np.array(logits[b][c])) / 2
                                         for c in ("clean", "laundered")}
    results = {}
    print(f"{'candidate':<70}{'AUC':>7}{'AUC l.':>8}{'bal.acc':>9}{'b.a. l.':>9}{'high':>7}{'high l.':>8}")
    for name, by in candidates.items():
        clean = summary_metrics(labels, sigmoid(by["clean"]), 0.5)
        laundered = summary_metrics(labels, sigmoid(by["laundered"]), 0.5)
        results[name] = {"clean": clean, "laundered": laundered,
                         "per_group": per_group_table(records, sigmoid(by["clean"]), 0.5)}
        print(f"{name:<70}{clean['auc']:>7.3f}{laundered['auc']:>8.3f}{clean['balanced_accuracy']:>9.3f}"
              f"{laundered['balanced_accuracy']:>9.3f}{clean['real_at_level_high']:>7.1%}"
              f"{laundered['real_at_level_high']:>8.1%}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "logits": logits,
                                         "groups": [r.group for r in records], "labels": labels.tolist()}, indent=1))


if __name__ == "__main__":
    main()
