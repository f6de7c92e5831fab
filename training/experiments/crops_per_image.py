"""Issue 31, would crops at more positions in training rank better? The cheap side of the question:
train with fewer. The same recipe as clip-v7 (grid, maximum rule, 20% of the loss on real images'
pooled logits, no composites) out of fold on v7's folds and cached features, each fold's head
trained on at most `--crops K` of each training image's crops (drawn at random, seeded, per image
and condition; the global view always kept), every held-out image scored on all its crops as the
runtime scores it. If ranking (AUC, the share found at 1% of real images) does not fall from 4
crops an image down to 1 or 2, more positions than the grid's 4 are not where the missing AUC is.

    python training/experiments/crops_per_image.py --crops 1 2 0   # 0: every crop (v7's recipe)

Results: training/experiments/README.md ("Crops per image in training")."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.grid_folds import Encoded, fit_as_configured, held_out_summary, material


def thinned(encoded: dict[str, list[Encoded]], tags: list[str], keep: int, seed: int) -> dict[str, list[Encoded]]:
    """The training conditions' rows with at most `keep` crops an image (0: all), the global view kept."""
    rng = np.random.default_rng(seed)

    def fewer(e: Encoded) -> Encoded:
        if keep == 0 or len(e.crops) <= keep:
            return e
        return Encoded(e.crops[np.sort(rng.choice(len(e.crops), keep, replace=False))], e.whole)

    return {tag: [fewer(e) for e in encoded[tag]] for tag in tags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v7.json")
    parser.add_argument("--crops", type=int, nargs="+", default=[1, 2, 0],
                        help="crops kept per training image and condition (0: all of them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="", help="also append each row as JSON here")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), partial_fakes=0)

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, Path.cwd(), log)
    for keep in args.crops:
        # training reads the thinned crops; held_out_summary scores every held-out image from m.encoded
        training = thinned(m.encoded, m.tags, keep, args.seed)
        crops_seen = float(np.mean([len(e.crops) for tag in m.tags for e in training[tag]]))

        def fit_fold(images: np.ndarray, training=training):
            return fit_as_configured(config, m, images, encoded=training)

        row = {"crops": keep, "mean_training_crops": round(crops_seen, 2),
               **held_out_summary(m, config.folds, fit_fold, log)}
        log(json.dumps(row))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
