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
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.models.clip_probe import BLOCKS, FEATURE_PARTS
from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.grid_folds import Encoded, Material, fit_as_configured, held_out_summary, material

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
        def fit_fold(images: np.ndarray, m: Material = narrowed):
            return fit_as_configured(config, m, images)

        row = {"read": read, "encoded": config.features, **held_out_summary(narrowed, config.folds, fit_fold, log)}
        log(json.dumps(row))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
