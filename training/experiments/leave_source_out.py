"""Issue 27, item 3: leave-source-out estimates for the CLIP head, to choose the recipe. Every
group (a generator, a repository, a camera make) falls in one of K folds; each fold is scored by
a head trained on the other folds, and its probabilities use a temperature fitted on the other
folds' held-out scores only (models/source_folds.py, which `synthcheck train` uses for a config
with "estimate": "leave_source_out"). Compares training recipes on the same folds:

- `clean+laundered`: each training image clean and laundered (0.5x, JPEG q75) — the shape of
  the recipe that trained synthcheck-clip-v2;
- `codec-blind`: the same plus one web view per image (metrics.WEB_VIEWS: JPEG 4:2:0/4:4:4,
  WebP, AVIF, HEIC, screenshot, JPEG then WebP), for both classes alike.

With `--global-view`, also the global view (models/crops.global_view: the whole image served at
most 1536 px long, then the condition, then shrunk so that its shorter side is 224, centre 224)
and two fusions of the views:

- `global`: codec-blind, the global view alone;
- `centre+global, one head`: one head trained on both views' features, scored as the mean of
  its logits over the two views (what the runtime does for a card with both views);
- `centre+global, two heads`: the codec-blind centre head and the global head, logits averaged.

Reports per condition (clean, laundered, WebP q75, AVIF q60) AUC, ECE and real photos at
`high` per policy (classifier evidence alone), paired group bootstraps against codec-blind,
per source and a reliability table for `--candidate`.

    python training/experiments/leave_source_out.py --config training/configs/clip-v3.json [--global-view] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.cache import cache_root
from synthcheck.models.clip_probe import ClipEncoder
from synthcheck.policy import POLICIES
from synthcheck.training.clip_features import ClipTrainConfig, split_items
from synthcheck.training.evaluate import paired_group_bootstrap, real_at_level_high
from synthcheck.training.metrics import auc, expected_calibration_error
from synthcheck.training.source_folds import (
    CONDITIONS,
    cap_groups,
    encode_all,
    held_out_probabilities,
    out_of_fold_logits,
    view_transforms,
)

BASELINE = "codec-blind"


def recipes(seed: int, with_global: bool) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    """recipe -> (views scored, training tags) of a one-head recipe."""
    web = "web0" if seed == 0 else f"web0s{seed}"
    out = {"clean+laundered": (("centre",), ["clean", "laundered"]),
           "codec-blind": (("centre",), ["clean", "laundered", web])}
    if with_global:
        out["global"] = (("global",), [f"g:{t}" for t in ("clean", "laundered", web)])
        out["centre+global, one head"] = (("centre", "global"), out["codec-blind"][1] + out["global"][1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="the draw of the web views (0: the config's features)")
    parser.add_argument("--features-only", action="store_true", help="encode (and cache) every view, then stop")
    parser.add_argument("--cap-corpus", nargs=2, metavar=("CORPUS", "N"), default=None,
                        help="at most N images per group of this corpus (by hash), e.g. cache:data/photos 100 "
                             "(default: the config's cap_per_group)")
    parser.add_argument("--out", type=Path, default=None, help="write the out-of-fold scores as JSON here")
    parser.add_argument("--global-view", action="store_true", help="also the global view and its fusions")
    parser.add_argument("--candidate", default=BASELINE, help="the recipe whose per-source table is printed")
    parser.add_argument("--partition", type=int, default=0,
                        help="deal the groups into folds afresh (0: the shipped estimate's folds)")
    parser.add_argument("--weight-decay", type=float, default=None, help="the head's L2 weight (default: the config's)")
    parser.add_argument("--recipe", action="append", default=None,
                        help="only this recipe (repeatable; default: every recipe): e.g. 'centre+global, one head'")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), seed=args.seed)
    if args.weight_decay is not None:
        config = replace(config, weight_decay=args.weight_decay)
    if config.max_grid != 1 or config.crop_anchor != "centre":
        raise SystemExit("leave_source_out.py assumes one centred crop (max_grid 1, crop_anchor centre)")
    records = [r for split in split_items(config, Path.cwd()).values() for r in split]
    caps = {args.cap_corpus[0]: int(args.cap_corpus[1])} if args.cap_corpus else config.cap_per_group
    records = cap_groups(records, caps, Path.cwd())
    print(f"{len(records)} images, {len({r.group for r in records})} groups, {args.folds} folds", flush=True)
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    cache = cache_root() / "features" / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}"
    started = time.time()
    views = ("centre", "global") if args.global_view else ("centre",)
    x = encode_all(records, view_transforms(views, config.crop_size, args.seed, 1), encoder, config.preprocessing,
                   config.features, cache)
    print(f"features: {time.time() - started:.0f} s", flush=True)
    if args.features_only:
        return
    y = np.array([r.label for r in records], float)
    groups = [r.group for r in records]
    logits, fold = {}, None
    chosen = {name: recipe for name, recipe in recipes(args.seed, args.global_view).items()
              if args.recipe is None or name in args.recipe}
    for recipe, (scored, tags) in chosen.items():
        logits[recipe], fold = out_of_fold_logits(x, y, groups, args.folds, scored, tags, config.weight_decay,
                                                  log=lambda m, r=recipe: print(f"{r}: {m}", flush=True),
                                                  partition=args.partition)
    if args.global_view and {"codec-blind", "global"} <= set(logits):
        logits["centre+global, two heads"] = {c: (logits["codec-blind"][c] + logits["global"][c]) / 2
                                              for c in CONDITIONS}
    results = {recipe: held_out_probabilities(z, y, groups, fold) for recipe, z in logits.items()}
    report(records, y, results, args.candidate if args.candidate in results else next(iter(results)))
    if args.out:
        args.out.write_text(json.dumps({"paths": [str(r.path) for r in records], "groups": groups,
                                        "labels": y.tolist(), "folds": fold.tolist(),
                                        "p": {k: {c: v.tolist() for c, v in p.items()} for k, p in results.items()}}))


def report(records, y: np.ndarray, results: dict[str, dict[str, np.ndarray]], best: str) -> None:
    print("\n| recipe | condition | AUC | ECE | " + " | ".join(f"real at `high` ({p})" for p in POLICIES) + " |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in POLICIES) + " |")
    for recipe, p in results.items():
        for c in CONDITIONS:
            print(f"| {recipe} | {c} | {auc(y, p[c]):.3f} | {expected_calibration_error(y, p[c]):.3f} | "
                  + " | ".join(f"{real_at_level_high(p[c], y, policy):.1%}" for policy in POLICIES) + " |")
    groups = [r.group for r in records]
    for recipe in results:
        if recipe == BASELINE or BASELINE not in results:
            continue
        print(f"\nPaired group bootstrap (300 resamples of whole groups): {recipe} minus {BASELINE}, mean (sd)\n")
        print("| condition | AUC | real at `high` (default) | real at `high` (kyc) |\n| --- | --- | --- | --- |")
        for c in CONDITIONS:
            d = paired_group_bootstrap(y, groups, results[BASELINE][c], results[recipe][c])
            print(f"| {c} | " + " | ".join(f"{np.nanmean(d[k]):+.3f} ({np.nanstd(d[k]):.3f})"
                                          for k in ("auc", "real_high_default", "real_high_kyc")) + " |")
    print(f"\nPer source ({best}): real photos at `high` (default) / mean p generated for generators, per condition\n")
    print("| group | label | n | " + " | ".join(CONDITIONS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in CONDITIONS) + " |")
    by_group = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    for group, idx in sorted(by_group.items()):
        idx = np.array(idx)
        if y[idx[0]] == 0:
            cells = [f"{real_at_level_high(results[best][c][idx], y[idx]):.0%}" for c in CONDITIONS]
        else:
            cells = [f"{results[best][c][idx].mean():.2f}" for c in CONDITIONS]
        print(f"| {group} | {'generated' if y[idx[0]] else 'real'} | {len(idx)} | " + " | ".join(cells) + " |")
    print(f"\nReliability ({best}, all conditions pooled): predicted vs observed share generated\n")
    pooled_p = np.concatenate([results[best][c] for c in CONDITIONS])
    pooled_y = np.concatenate([y] * len(CONDITIONS))
    print("| bin | n | mean predicted | observed |\n| --- | --- | --- | --- |")
    edges = np.linspace(0, 1, 11)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (pooled_p >= lo) & ((pooled_p < hi) if hi < 1 else (pooled_p <= hi))
        if m.any():
            print(f"| {lo:.1f}-{hi:.1f} | {int(m.sum())} | {pooled_p[m].mean():.3f} | {pooled_y[m].mean():.3f} |")


if __name__ == "__main__":
    main()
