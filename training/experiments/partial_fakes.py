"""Issue 31: does training on aligned partial fakes teach the whole-image head where an edit is?

The shipped recipe (training/configs/clip-v5.json) with `partial_fakes` real photos per fold
whose region around one crop is regenerated through TAEF2 (every second one also with a
generated patch pasted; grid_folds.partial_fakes), weighed at each `--weights` share of the loss.
Every number is out of fold (the head never saw the image's source nor a composite made from
its fold): AUC per condition, real images at `high` (default and kyc), and the patch tests
(real patch keeps, generated/regenerated corner hit rates) under each pooling rule.

    python training/experiments/partial_fakes.py [--per-fold 160] [--web-views 1] [--weights 0 0.15 0.3]
           [--weight-decay 0.01]

Results: training/experiments/README.md ("Aligned partial fakes")."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.grid_folds import compare_poolings, material, out_of_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v5.json")
    parser.add_argument("--per-fold", type=int, default=160)
    parser.add_argument("--web-views", type=int, default=0, help="each composite also through this many web views")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.15, 0.3])
    parser.add_argument("--poolings", nargs="+", default=["max", "mean"])
    parser.add_argument("--weight-decay", type=float, default=None, help="the head's L2 weight (default: the config's)")
    parser.add_argument("--out", default="", help="also write the table as JSON here")
    args = parser.parse_args()
    repo_root = Path.cwd()
    config = ClipTrainConfig.load(args.config)
    if args.weight_decay is not None:
        config = replace(config, weight_decay=args.weight_decay)
    config = replace(config, partial_fakes=args.per_fold,
                     partial_web_views=args.web_views, poolings=tuple(args.poolings))

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, repo_root, log)
    table = {}
    for weight in args.weights:
        oof = out_of_fold(config, m, log, partial_weight=weight, one_head=True)
        comparison, _ = compare_poolings(config.poolings, oof.scored, m.y, m.groups, m.fold, oof.cases)
        table[weight] = comparison
        for rule, row in comparison.items():
            log(f"weight {weight} pooling {rule}: " + json.dumps(row))
    if args.out:
        Path(args.out).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
