"""Issue 31, where it stands: does a pasted patch hide a generated image, or a generated patch
go unseen in a real photo? Measured with heads that never saw the image's source (the shipped
recipe's leave-source-out folds, partition 0), scored the way the runtime scores (the centre
crop and the global view, logits averaged, the shipped card's temperature).

- centre patch: generated images of at least 768 px on their shorter side that score >= 0.5;
  a 320x320 patch of a real photo (another group's, held out alike) pasted in the centre, then
  in the top-left corner: the share still >= 0.5.
- corner patch: real photos of at least 1 MP; a 320x320 patch of a generated image pasted in the
  bottom-right corner: the share that reaches >= 0.5, and how far the mean score moves.

    python training/experiments/patch_blind_spot.py [--config training/configs/clip-v4.json] [--limit 200]

Results: training/experiments/README.md ("The whole image: where it stands")."""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.cache import cache_root
from synthcheck.datasets.records import load_pixels
from synthcheck.models import ModelCard
from synthcheck.models.clip_probe import ClipEncoder, ClipProbeClassifier
from synthcheck.training.clip_features import ClipTrainConfig, split_items
from synthcheck.training.source_folds import (
    cap_groups,
    encode_all,
    fit_on,
    fold_of,
    training_tags,
    view_transforms,
)

PATCH = 320


def paste(target: np.ndarray, patch: np.ndarray, where: str) -> np.ndarray:
    out = target.copy()
    h, w = target.shape[:2]
    y, x = {"centre": ((h - PATCH) // 2, (w - PATCH) // 2), "top-left": (0, 0),
            "bottom-right": (h - PATCH, w - PATCH)}[where]
    out[y : y + PATCH, x : x + PATCH] = patch
    return out


def centre_patch(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = (h - PATCH) // 2, (w - PATCH) // 2
    return rgb[y : y + PATCH, x : x + PATCH]


def order(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("training/configs/clip-v4.json"))
    parser.add_argument("--card", type=Path, default=Path("models/synthcheck-clip-v4/card.json"))
    parser.add_argument("--limit", type=int, default=200, help="at most this many images per test")
    args = parser.parse_args()
    config = ClipTrainConfig.load(args.config)
    card = ModelCard.load(args.card)
    records = cap_groups([r for split in split_items(config, Path.cwd()).values() for r in split],
                         config.cap_per_group, Path.cwd())
    y = np.array([r.label for r in records], float)
    groups = [r.group for r in records]
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    cache = cache_root() / "features" / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}"
    transforms = view_transforms(config.views, config.crop_size, 0, config.web_views)
    tags = training_tags(config.views, 0, config.web_views)
    x = encode_all(records, {t: transforms[t] for t in tags}, encoder, config.preprocessing, config.features, cache)
    fold = np.array([fold_of(g, config.folds) for g in groups])
    heads = {k: fit_on(x, y, groups, fold != k, tags, config.weight_decay) for k in range(config.folds)}
    # the runtime's scoring with a fold's head: its logit, the shipped temperature
    scorers = {k: ClipProbeClassifier(replace(card, members=(replace(card.members[0], bias=0.0),)), encoder, head)
               for k, head in heads.items()}

    def p(k: int, rgb: np.ndarray) -> float:
        return float(1 / (1 + np.exp(-scorers[k].mean_logit(rgb) / card.temperature)))

    by_order = sorted(range(len(records)), key=lambda i: order(records[i].path))
    generated = [i for i in by_order if y[i] == 1]
    real = [i for i in by_order if y[i] == 0]
    used: dict[tuple[int, int], int] = {}

    def donor_patch(label: int, k: int) -> np.ndarray:
        """The centre patch of the next image of this class in fold k (held out with the image it
        is pasted into), in a fixed order, each used once while the fold has more."""
        pool = [j for j in (generated if label else real) if fold[j] == k]
        start = used.get((label, k), 0)
        for step in range(len(pool)):
            rgb = load_pixels(records[pool[(start + step) % len(pool)]])
            if min(rgb.shape[:2]) >= PATCH:
                used[(label, k)] = start + step + 1
                return centre_patch(rgb)
        raise SystemExit(f"no image of label {label} in fold {k} is {PATCH} px or more")

    # centre patch: generated images >= 768 px that score >= 0.5, a real photo's patch pasted in
    kept = {"none": 0, "centre": 0, "top-left": 0}
    n = 0
    for i in generated:
        rgb = load_pixels(records[i])
        if min(rgb.shape[:2]) < 768:
            continue
        k = int(fold[i])
        if p(k, rgb) < 0.5:
            continue
        patch = donor_patch(0, k)
        n += 1
        kept["none"] += 1
        for where in ("centre", "top-left"):
            kept[where] += p(k, paste(rgb, patch, where)) >= 0.5
        if n >= args.limit:
            break
    print(f"centre patch: {n} generated images >= 768 px scoring >= 0.5 (held out); still >= 0.5 with a "
          f"{PATCH}x{PATCH} real patch in the centre: {kept['centre']}/{n} ({kept['centre'] / max(n, 1):.0%}), "
          f"in the top-left corner: {kept['top-left']}/{n} ({kept['top-left'] / max(n, 1):.0%})", flush=True)

    # corner patch: real photos of >= 1 MP, a generated image's patch in the bottom-right corner
    before, after, reached = [], [], 0
    m = 0
    for i in real:
        rgb = load_pixels(records[i])
        if rgb.shape[0] * rgb.shape[1] < 1_000_000:
            continue
        k = int(fold[i])
        patched = paste(rgb, donor_patch(1, k), "bottom-right")
        before.append(p(k, rgb))
        after.append(p(k, patched))
        reached += after[-1] >= 0.5 and before[-1] < 0.5
        m += 1
        if m >= args.limit:
            break
    print(f"corner patch: {m} real photos >= 1 MP (held out); mean p {np.mean(before):.3f} -> {np.mean(after):.3f} "
          f"with a {PATCH}x{PATCH} generated patch in the bottom-right corner; newly >= 0.5: {reached}/{m}; "
          "the report's regions grid is one cell (the centre crop), so nothing points at the corner", flush=True)


if __name__ == "__main__":
    main()
