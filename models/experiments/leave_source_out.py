"""Issue 27, item 3: leave-source-out estimates for the CLIP head. Every group (a generator,
a repository, a camera make: `record.group` after the config's refinements) falls in one of
K folds; each fold is scored by a head trained on the other folds, so every score comes from
a model that never saw that source. The temperature applied to a fold is fitted on the other
folds' held-out scores only. Compares training recipes on the same folds:

- `clean+laundered`: each training image clean and laundered (0.5x, JPEG q75) — the shipped recipe's shape;
- `codec-blind`: the same plus one web view per image (metrics.WEB_VIEWS: JPEG 4:2:0/4:4:4,
  WebP, AVIF, HEIC, screenshot, JPEG then WebP), for both classes alike.

Reports per condition (clean, laundered, WebP q75, AVIF q60) AUC, ECE and real photos at
`high` per policy (classifier evidence alone), per source, and a reliability table.

    python models/experiments/leave_source_out.py --config models/configs/clip-v3.json [--folds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from synthcheck.models.backbones import cache_root
from synthcheck.models.clip_probe import (ClipEncoder, ClipTrainConfig, codec_transform, encode_view, fit_head,
                                          fit_temperature, split_items, web_view_transform)
from synthcheck.models.evaluate import real_at_level_high
from synthcheck.models.metrics import auc, centre_crop, expected_calibration_error, launder
from synthcheck.policy import POLICIES

CONDITIONS = ("clean", "laundered", "webp_q75", "avif_q60")


PRE_CROP = 1024


def views(config: ClipTrainConfig):
    """tag -> transform of every view the estimate needs (each cached once per image). With one
    centred crop (the config's), only the centre of the image is ever seen, even after a 0.5x
    resize, so each image is first cut to its centre 1024 px: the same crop, encoded in a
    fraction of the time (AVIF of a 24-megapixel photo takes seconds)."""
    if config.max_grid != 1 or config.crop_anchor != "centre":
        raise SystemExit("leave_source_out.py assumes one centred crop (max_grid 1, crop_anchor centre)")
    transforms = {"clean": lambda rgb, key: rgb,
                  "laundered": lambda rgb, key: launder(rgb, 0.5, 75),
                  "webp_q75": codec_transform("WEBP", 75),
                  "avif_q60": codec_transform("AVIF", 60),
                  "web0": web_view_transform(config.seed, 0)}
    return {tag: (lambda t: lambda rgb, key: t(centre_crop(rgb, PRE_CROP), key))(t) for tag, t in transforms.items()}


RECIPES = {"clean+laundered": ("clean", "laundered"), "codec-blind": ("clean", "laundered", "web0")}


def cap_groups(records, corpus: str, n: str):
    """At most n records per group among those under `corpus` (a deterministic draw by path hash)."""
    from synthcheck.datasets.records import corpus_root

    root = str(corpus_root(corpus, Path.cwd()))
    kept, count = [], defaultdict(int)
    for r in sorted(records, key=lambda r: hashlib.sha256(str(r.path).encode()).hexdigest()):
        if str(r.path).startswith(root):
            count[r.group] += 1
            if count[r.group] > int(n):
                continue
        kept.append(r)
    return sorted(kept, key=lambda r: (str(r.path), r.tile or 0))


def fold_of(group: str, folds: int) -> int:
    return int(hashlib.sha256(f"fold:{group}".encode()).hexdigest(), 16) % folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--features-only", action="store_true", help="encode (and cache) every view, then stop")
    parser.add_argument("--cap-corpus", nargs=2, metavar=("CORPUS", "N"), default=None,
                        help="at most N images per group of this corpus (by hash), e.g. cache:data/photos 100")
    parser.add_argument("--out", type=Path, default=None, help="write the out-of-fold scores as JSON here")
    args = parser.parse_args()
    config = ClipTrainConfig.load(args.config)
    records = [r for split in split_items(config, Path.cwd()).values() for r in split]
    if args.cap_corpus:
        records = cap_groups(records, *args.cap_corpus)
    print(f"{len(records)} images, {len({r.group for r in records})} groups, {args.folds} folds", flush=True)
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    cache = cache_root() / "features" / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}"
    started = time.time()
    x = {tag: encode_view(records, encoder, config.preprocessing, config.features, cache, f"lso-{tag}", transform)
         for tag, transform in views(config).items()}
    print(f"features: {time.time() - started:.0f} s", flush=True)
    if args.features_only:
        return
    y = np.array([r.label for r in records], float)
    groups = [r.group for r in records]
    fold = np.array([fold_of(g, args.folds) for g in groups])
    results = {}
    for recipe, train_views in RECIPES.items():
        logits = {c: np.zeros(len(records)) for c in CONDITIONS}
        for k in range(args.folds):
            train = fold != k
            xs = np.concatenate([x[v][train] for v in train_views])
            ys = np.concatenate([y[train]] * len(train_views))
            gs = [g for _ in train_views for g, t in zip(groups, train) if t]
            head = fit_head(xs, ys, gs, config.weight_decay)
            for c in CONDITIONS:
                logits[c][~train] = head(x[c][~train])
            print(f"{recipe}: fold {k} done ({time.time() - started:.0f} s)", flush=True)
        # each fold's temperature: fitted on the other folds' held-out logits (clean and laundered)
        p = {c: np.zeros(len(records)) for c in CONDITIONS}
        for k in range(args.folds):
            other = fold != k
            t = fit_temperature(np.concatenate([logits["clean"][other], logits["laundered"][other]]),
                                np.concatenate([y[other], y[other]]))
            for c in CONDITIONS:
                p[c][~other] = 1 / (1 + np.exp(-logits[c][~other] / t))
        results[recipe] = p
    report(records, y, results)
    if args.out:
        args.out.write_text(json.dumps({"paths": [str(r.path) for r in records], "groups": groups,
                                        "labels": y.tolist(), "folds": fold.tolist(),
                                        "p": {k: {c: v.tolist() for c, v in p.items()} for k, p in results.items()}}))


def high_cut(policy: str) -> float:
    """The smallest p at which the classifier's evidence alone reaches `high` (bisection;
    real_at_level_high's rule, which is monotonic in p)."""
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if real_at_level_high(np.array([mid]), np.array([0.0]), policy) > 0:
            hi = mid
        else:
            lo = mid
    return hi


def paired_bootstrap(y: np.ndarray, groups: list[str], a: np.ndarray, b: np.ndarray, n: int = 300):
    """(mean, sd) of b - a for AUC and real at `high` (default, kyc), resampling whole groups."""
    rng = np.random.default_rng(0)
    names = sorted(set(groups))
    index = {g: np.flatnonzero(np.array(groups) == g) for g in names}
    # the classifier alone reaches `high` above one probability per policy: found once, compared after
    cut = {pol: high_cut(pol) for pol in ("default", "kyc")}
    rows = []
    for _ in range(n):
        pick = np.concatenate([index[g] for g in rng.choice(names, len(names))])
        real = pick[y[pick] == 0]
        rows.append([auc(y[pick], b[pick]) - auc(y[pick], a[pick])]
                    + [float(np.mean(b[real] >= cut[pol]) - np.mean(a[real] >= cut[pol])) for pol in cut])
    rows = np.array(rows)
    return [(float(np.nanmean(rows[:, i])), float(np.nanstd(rows[:, i]))) for i in range(rows.shape[1])]


def report(records, y: np.ndarray, results: dict[str, dict[str, np.ndarray]]) -> None:
    print("\n| recipe | condition | AUC | ECE | " + " | ".join(f"real at `high` ({p})" for p in POLICIES) + " |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in POLICIES) + " |")
    for recipe, p in results.items():
        for c in CONDITIONS:
            print(f"| {recipe} | {c} | {auc(y, p[c]):.3f} | {expected_calibration_error(y, p[c]):.3f} | "
                  + " | ".join(f"{real_at_level_high(p[c], y, policy):.1%}" for policy in POLICIES) + " |")
    groups = [r.group for r in records]
    print("\nPaired group bootstrap (300 resamples of whole groups): codec-blind minus clean+laundered, mean (sd)\n")
    print("| condition | AUC | real at `high` (default) | real at `high` (kyc) |\n| --- | --- | --- | --- |")
    for c in CONDITIONS:
        d = paired_bootstrap(y, groups, results["clean+laundered"][c], results["codec-blind"][c])
        print(f"| {c} | " + " | ".join(f"{m:+.3f} ({sd:.3f})" for m, sd in d) + " |")
    best = "codec-blind"  # the candidate: its per-source table and reliability
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
