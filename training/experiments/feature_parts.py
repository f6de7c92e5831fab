"""Issue 31, what the head reads: the same recipe (clip-v7's: grid, maximum rule, 20% of the loss on
real images' pooled logits, no composites) out of fold on v7's folds, the head reading a subset of
the cached features: some of the parts (models/clip_probe.FEATURE_PARTS: each block's CLS token,
its patch tokens' mean and their spread) and/or some of the 12 blocks. The config's `features`
says what is encoded and cached (everything a subset may read); `--read` names what each run's
head reads. AUC, real and generated images at `high` per condition, the share of generated images
above the real images' top 1% (ranking at a fixed false-alarm rate), and the real-patch tests.

    python training/experiments/feature_parts.py --config training/configs/clip-v7-patch-tokens.json \\
        --read cls cls+patch_mean cls+patch_mean+patch_std
    python training/experiments/feature_parts.py --config training/configs/clip-v7.json --read cls:5-12 cls:1-8

(`PART:FIRST-LAST` keeps blocks FIRST to LAST, counted from 1.) Results: training/experiments/README.md
("What the head reads")."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.models.clip_probe import BLOCKS, FEATURE_PARTS
from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.evaluate import real_at_level_high
from synthcheck.training.grid_folds import Encoded, Material, fit, logits_of, material, patch_summary, pooled, scored_by
from synthcheck.training.metrics import auc
from synthcheck.training.source_folds import CONDITIONS, fit_temperature_on, held_out_probabilities

WIDTH = 768  # one block's token


def columns(encoded_kind: str, read: str) -> np.ndarray:
    """The columns of a cached `encoded_kind` row that `read` ("cls+patch_mean" or "cls:5-12") keeps."""
    stored = [p for p in FEATURE_PARTS if p in encoded_kind.split("+")]
    if "embed" in stored:
        raise SystemExit("feature_parts.py reads per-block parts only (no `embed`)")
    parts, _, blocks = read.partition(":")
    first, last = (int(b) for b in blocks.split("-")) if blocks else (1, BLOCKS)
    keep = []
    for name in parts.split("+"):
        if name not in stored:
            raise SystemExit(f"{name} is not in the cached features ({encoded_kind})")
        start = stored.index(name) * BLOCKS * WIDTH
        keep += [np.arange(start + (b - 1) * WIDTH, start + b * WIDTH) for b in range(first, last + 1)]
    return np.concatenate(keep)


def evaluate(m: Material, config: ClipTrainConfig, log) -> dict:
    scored = {c: [(np.zeros(0), 0.0)] * len(m.records) for c in CONDITIONS}
    cases = []
    for k in range(config.folds):
        started = time.time()
        images = np.flatnonzero(m.fold != k)
        head = fit(m.encoded, images, m.tags, m.y, m.groups, config.weight_decay,
                   pooled_weight=config.pooled_loss_weight, pooled_tau=config.pooled_loss_tau)
        for c in CONDITIONS:
            for i in np.flatnonzero(m.fold == k):
                scored[c][i] = logits_of(head, m.encoded[c][i])
        cases += scored_by(head, [c for c in m.cases if m.fold[c.host] == k])
        log(f"fold {k + 1}/{config.folds} ({time.time() - started:.0f} s)")
    logits = {c: pooled("max", scored[c]) for c in CONDITIONS}
    p = held_out_probabilities(logits, m.y, m.groups, m.fold)
    temperature = fit_temperature_on(logits, m.y, m.groups, np.ones(len(m.y), bool))
    real = m.y == 0
    tests = patch_summary(cases, "max", temperature)
    generated = ~real

    def found_at(c: str, share: float) -> float:
        """The share of generated images above the real images' top `share` (ranking, whatever the scale)."""
        return round(float(np.mean(logits[c][generated] > np.quantile(logits[c][real], 1 - share))), 3)

    return {**{f"auc_{c}": round(auc(m.y, logits[c]), 4) for c in CONDITIONS},
            **{f"high_{pol}_{c}": real_at_level_high(p[c][real], m.y[real], pol)
               for pol in ("default", "kyc") for c in CONDITIONS},
            # generated images at `high`: the other side of the operating point
            **{f"generated_high_{pol}_{c}": real_at_level_high(p[c][generated], np.zeros(int(generated.sum())), pol)
               for pol in ("default", "kyc") for c in CONDITIONS},
            **{f"found_at_1pct_{c}": found_at(c, 0.01) for c in CONDITIONS},
            **{f"kept_{name}": t.get("kept_share") for name, t in tests.items() if name.startswith("real_patch")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v7-patch-tokens.json")
    parser.add_argument("--read", nargs="+", default=["cls"], help="what each run's head reads, e.g. cls+patch_mean")
    parser.add_argument("--out", default="", help="also append each row as JSON here")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), partial_fakes=0)

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, Path.cwd(), log)
    for read in args.read:
        keep = columns(config.features, read)

        def narrow(e: Encoded, keep=keep) -> Encoded:
            return Encoded(e.crops[:, keep], e.whole[keep])

        narrowed = replace(m, encoded={tag: [narrow(e) for e in rows] for tag, rows in m.encoded.items()},
                           cases=[replace(c, patched_views=narrow(c.patched_views), plain_views=narrow(c.plain_views))
                                  for c in m.cases])
        row = {"read": read, "encoded": config.features, **evaluate(narrowed, config, log)}
        log(json.dumps(row))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
