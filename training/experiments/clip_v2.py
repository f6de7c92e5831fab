"""What each data change buys the CLIP head, and whether Lite0 v13 still adds anything.

    synthcheck setup && synthcheck data artwork
    python training/experiments/clip_v2.py [--config training/configs/clip-v2.json] [--split both]

On the split of the config (both corpora and the artwork corpus, whole sources held out),
with the features `synthcheck train` caches, it fits the head of `clip_probe` on
- v1's data (no artwork, no aligned fakes),
- + artwork (human-made images as real),
- + artwork + TAEF2 aligned fakes of the training photos,
- + artwork + TAEF2 + Real-ESRGAN aligned fakes (the config's recipe),
and scores each calibrated as it would ship (the held-out scaling calibrate.py chooses,
cross-fitted), plus the mean of the chosen head's and v13's calibrated logits; `--heads`
adds a linear SVM and a small MLP on the chosen recipe's features; `--grid N` scores the
chosen head on up to N x N crops per validation image instead of one. `--split`:
`config` (the config's validation groups), `nano-banana-held-out` (the Nano Banana outputs of
../shared/data held out too, as clip-v1's split did: no Nano Banana output in training) or
`both`. `--shipped` models are scored as they ship on the same images.

Noise: the head is a convex fit, so a seed only changes the training images' laundering
draws (`synthcheck train` with "seed": 1 measures that); the larger spread is which sources
happen to be held out: every AUC comes with its standard deviation over 300 bootstrap
resamples of the validation groups, and every difference with the paired standard deviation
of its difference from "+ artwork"; a difference smaller than that is no result.
Results: training/experiments/README.md."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.cache import cache_root
from synthcheck.models.clip_probe import ClipEncoder
from synthcheck.training.calibrate import CURRENT, Scaling, choose_scaling, compare_scalings
from synthcheck.training.clip_features import (
    ClipTrainConfig,
    aligned_fakes,
    encode_items,
    fit_head,
    fit_temperature,
    split_items,
)
from synthcheck.training.metrics import auc

REPO = Path(__file__).resolve().parents[2]
ALIGNED = {"taef2": 1.0, "realesrgan": 0.15}


def v13_logits(records, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """v13's calibrated logits (clean, laundered), cached by the records' paths."""
    import hashlib

    key = hashlib.sha256("\n".join(f"{r.path}#{r.tile}" for r in records).encode()).hexdigest()[:16]
    path = cache / f"v13-{key}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["clean"], saved["laundered"]
    from synthcheck.models import load_classifier
    from synthcheck.training.calibrate import mean_logits

    classifier = load_classifier("synthcheck-lite0-v13")
    card = classifier.card
    out = [(mean_logits(classifier, records, laundered) + 0.0) / card.temperature for laundered in (False, True)]
    np.savez(path, clean=out[0], laundered=out[1])
    return out[0], out[1]


def shipped_metrics(z_clean, z_laundered, records) -> tuple[str, dict]:
    labels = np.array([r.label for r in records])
    groups = [r.group for r in records]
    results, _ = compare_scalings(z_clean, z_laundered, labels, groups, Scaling(1.0), 0.5)
    chosen = choose_scaling(results)
    return chosen, results[chosen]


def group_bootstrap_auc(labels, scores: dict[str, np.ndarray], groups, reference: str, n: int = 300, seed: int = 0):
    """Std of each candidate's AUC, and of its difference from `reference`'s (paired: the same
    resample), over resamples of the validation groups."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    index = {g: np.flatnonzero(np.array(groups) == g) for g in names}
    draws = {k: [] for k in scores}
    for _ in range(n):
        picked = np.concatenate([index[g] for g in rng.choice(names, len(names))])
        if len(set(labels[picked])) < 2:
            continue
        for k, s in scores.items():
            draws[k].append(auc(labels[picked], s[picked]))
    first = np.array(draws[reference])
    return {k: (float(np.std(v)), float(np.std(np.array(v) - first))) for k, v in draws.items()}


def shipped_model_metrics(name: str, records) -> dict:
    """A shipped model scored on this split at its card's own scaling (clip-v1's was fitted on
    its own validation groups, most of which are in this split: its ECE here is flattered;
    AUC is not, and none of these images was in its training split)."""
    from synthcheck.models import load_classifier
    from synthcheck.training.evaluate import predict_all, summary_metrics

    classifier = load_classifier(name)
    labels = np.array([r.label for r in records])
    return {c: summary_metrics(labels, predict_all(classifier, records, c == "laundered"), 0.5)
            for c in ("clean", "laundered")}


def fit_other_head(kind: str, x: np.ndarray, y: np.ndarray, groups: list[str], seed: int = 0):
    """A linear SVM (squared hinge, L2) or a small MLP (one hidden layer of 256, weight decay)
    on the standardised features, with the logistic head's class and group weights; returns
    a function from features to a score (a logit-like margin)."""
    import torch

    from synthcheck.training.calibrate import balanced_weights

    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    wt = torch.tensor(balanced_weights(y, groups) / 2, dtype=torch.float32)
    if kind == "linear SVM":
        model = torch.nn.Linear(x.shape[1], 1)
        optimiser = torch.optim.LBFGS(model.parameters(), max_iter=500, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            margin = model(xt).squeeze(1) * (2 * yt - 1)
            loss = (wt * torch.clamp(1 - margin, min=0) ** 2).sum() + 0.01 * (model.weight ** 2).sum()
            loss.backward()
            return loss

        optimiser.step(closure)
    else:
        model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.GELU(), torch.nn.Dropout(0.2),
                                    torch.nn.Linear(256, 1))
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        for _ in range(300):
            optimiser.zero_grad()
            loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(model(xt).squeeze(1), yt,
                                                                            reduction="none")).sum()
            loss.backward()
            optimiser.step()
    model.eval()

    def score(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.tensor((features - mean) / std, dtype=torch.float32)).squeeze(1).double().numpy()

    return score


def run(base: ClipTrainConfig, split_name: str, shipped: list[str], heads: bool = False, grid: int = 1) -> None:
    config = base
    if split_name == "nano-banana-held-out":  # the harder split: no Nano Banana output in training at all
        config = replace(base, validation_groups=("nano-banana:", *base.validation_groups))
    splits = split_items(config, REPO)
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    cache = cache_root() / "features" / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}"
    prep = config.preprocessing

    def features(items, laundering):
        return encode_items(items, encoder, prep, config.features, laundering, cache, config.seed, config)

    # the aligned fakes measured here (v13's recipe: every training photo through TAEF2, 15%
    # through Real-ESRGAN), whatever the config ships with
    fakes = aligned_fakes(replace(config, aligned_methods=ALIGNED, taef2_weights="../shared/weights/taef2"),
                          splits["train"], REPO)
    train = splits["train"]
    recipes = {
        "v1 data": [r for r in train if r.source != "artwork"],
        "+ artwork": train,
        "+ artwork + taef2": train + [f for f in fakes if f.generator == "taef2"],
        "+ artwork + taef2 + realesrgan": train + fakes,
    }
    x_cal, x_cal_l = features(splits["calibration"], "eval")
    y_cal = np.array([r.label for r in splits["calibration"]], float)
    validation = splits["validation"]
    x_val, x_val_l = features(validation, "eval")
    labels = np.array([r.label for r in validation])
    groups = [r.group for r in validation]
    print(f"\n== split {split_name}: {len(train)} train (+{len(fakes)} aligned), {len(splits['calibration'])} "
          f"calibration, {len(validation)} validation ({labels.sum()} generated)")
    rows, scores = [], {}
    for name, items in recipes.items():
        x, x_l = features(items, "random")
        y = np.array([r.label for r in items], float)
        head = fit_head(np.concatenate([x, x_l]), np.concatenate([y, y]), [r.group for r in items] * 2,
                        config.weight_decay)
        t = fit_temperature(np.concatenate([head(x_cal), head(x_cal_l)]), np.concatenate([y_cal, y_cal]))
        z, z_l = head(x_val) / t, head(x_val_l) / t
        scores[name], scores[name + " (laundered)"] = z, z_l
        rows.append((name, *shipped_metrics(z, z_l, validation)))
    if heads:  # other heads on the shipped recipe's features, each at its calibration-split temperature
        items = recipes["+ artwork"]
        x, x_l = features(items, "random")
        y = np.array([r.label for r in items], float)
        for kind in ("linear SVM", "MLP (256)"):
            score = fit_other_head(kind, np.concatenate([x, x_l]), np.concatenate([y, y]), [r.group for r in items] * 2)
            t = fit_temperature(np.concatenate([score(x_cal), score(x_cal_l)]), np.concatenate([y_cal, y_cal]))
            z, z_l = score(x_val) / t, score(x_val_l) / t
            name = f"+ artwork, {kind} head"
            scores[name], scores[name + " (laundered)"] = z, z_l
            rows.append((name, *shipped_metrics(z, z_l, validation)))
    if grid > 1:  # the shipped head, scored on the mean of a grid x grid of crops instead of one
        items = recipes["+ artwork"]
        x, x_l = features(items, "random")
        y = np.array([r.label for r in items], float)
        head = fit_head(np.concatenate([x, x_l]), np.concatenate([y, y]), [r.group for r in items] * 2,
                        config.weight_decay)
        grid_prep = replace(prep, max_grid=grid)
        g, g_l = encode_items(validation, encoder, grid_prep, config.features, "eval", cache, config.seed, config)
        name = f"+ artwork, scored on up to {grid}x{grid} crops"
        scores[name], scores[name + " (laundered)"] = head(g), head(g_l)
        rows.append((name, *shipped_metrics(head(g), head(g_l), validation)))
    for name in shipped:
        rows.append((f"{name} as shipped", "its card", shipped_model_metrics(name, validation)))
    z13, z13_l = v13_logits(validation, cache)
    last = "+ artwork"  # the recipe that ships: mixed with v13 to see whether Lite0 adds anything
    rows.append(("v13 alone", *shipped_metrics(z13, z13_l, validation)))
    scores["v13 alone"], scores["v13 alone (laundered)"] = z13, z13_l
    for w in (0.25, 0.5):
        z, z_l = (1 - w) * scores[last] + w * z13, (1 - w) * scores[last + " (laundered)"] + w * z13_l
        name = f"{1 - w:.2f} x CLIP ({last}) + {w:.2f} x v13"
        rows.append((name, *shipped_metrics(z, z_l, validation)))
        scores[name], scores[name + " (laundered)"] = z, z_l
    spread = group_bootstrap_auc(labels, {k: v for k, v in scores.items() if not k.endswith("(laundered)")}, groups,
                                 "+ artwork")
    spread_l = group_bootstrap_auc(labels, {k: v for k, v in scores.items() if k.endswith("(laundered)")}, groups,
                                   "+ artwork (laundered)")
    print(f"{'candidate':<52} {'scaling':<16} {'AUC c/l (sd)':>26} {'bal.acc c/l':>12} {'ECE c/l':>12} "
          f"{'real high c/l':>14}")
    for name, chosen, r in rows:
        c, w = r["clean"], r["laundered"]
        sd, sd_l = spread.get(name, (0,))[0], spread_l.get(name + " (laundered)", (0,))[0]
        print(f"{name:<52} {chosen.replace(CURRENT, 'calibration split')[:16]:<16} {c['auc']:.3f}±{sd:.3f}/"
              f"{w['auc']:.3f}±{sd_l:.3f} {c['balanced_accuracy']:.3f}/{w['balanced_accuracy']:.3f} "
              f"{c['ece']:.3f}/{w['ece']:.3f} {c['real_at_level_high']:.3f}/{w['real_at_level_high']:.3f}")
    print("sd of the paired AUC difference from '+ artwork', clean / laundered: " + ", ".join(
        f"{k}: {spread[k][1]:.3f}/{spread_l[k + ' (laundered)'][1]:.3f}" for k in spread))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "models" / "configs" / "clip-v2.json")
    parser.add_argument("--split", choices=["config", "nano-banana-held-out", "both"], default="both")
    parser.add_argument("--heads", action="store_true", help="also compare a linear SVM and an MLP head")
    parser.add_argument("--grid", type=int, default=1, help="also score the chosen head on up to GRID x GRID "
                        "crops per validation image (their features averaged)")
    parser.add_argument("--shipped", nargs="*", default=["synthcheck-clip-v1"],
                        help="shipped models to score as they ship on the same split")
    args = parser.parse_args()
    base = ClipTrainConfig.load(args.config)
    for split_name in (["config", "nano-banana-held-out"] if args.split == "both" else [args.split]):
        run(base, split_name, args.shipped, args.heads, args.grid)


if __name__ == "__main__":
    main()
