"""Issue 31: an edit anywhere, not only in a corner. The trainer's region tests put the 320x320
generated or regenerated patch in a corner of a real photo of 1 MP and more, where a crop of the
grid always lies (the grid runs from edge to edge). An edit can be anywhere: between the crops of
a 2x2 grid (a 1000x1000 photo: crops at the four corners, the middle 552x552 seen by the global
view only) nothing but the shrunk global view sees it. Here the patch is placed uniformly at random
(on a multiple of 8) in each of `--per-fold` held-out real photos of 1 MP and more per fold, pasted
from a generated image of the same fold (feathered) and, separately, regenerated through TAEF2;
every case is scored by the heads of the folds that did not hold its photo (the config's recipe:
the main head and the region head, the map's scaling fitted out of fold as the trainer does).

Printed per test: how often the most suspicious crop lies mostly (>= half) in the patch (the
trainer's hit), how often the most suspicious crop's cell (the map's cell around it: the image
divided evenly into the grid's rows and columns) holds the patch's centre, the same two among the
cases where some crop lies mostly in the patch (a crop could see it), and the mean rise of p.

    python training/experiments/patch_anywhere.py [--config training/configs/clip-v7.json] [--per-fold 40]
           [--cell 224 --max-crops 48]

`--cell 224` scores the same composites with crops tiling the whole image (at most `--max-crops`),
the heads unchanged: what a full map would find, at several times the passes.

Results: training/experiments/README.md ("An edit anywhere")."""

from __future__ import annotations

import argparse
import random
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.datasets.partial import inside, paste, regenerate
from synthcheck.datasets.records import load_pixels
from synthcheck.models.crops import grid_shape
from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.grid_folds import (
    MIN_REAL_PIXELS,
    PATCH,
    Encoded,
    PatchCase,
    cached_views,
    crop_boxes,
    material,
    out_of_fold,
    patch_summary,
    pooled,
    region_scaling_of,
    taef2_reconstructor,
)
from synthcheck.training.metrics import centre_crop
from synthcheck.training.source_folds import CONDITIONS, fit_temperature_on


def cell_holds_centre(case: PatchCase, top: int, shape: tuple[int, int], prep) -> bool:
    """Whether the map's cell of crop `top` (the image divided evenly into the grid) holds the
    patch's centre."""
    height, width = shape
    rows, cols = grid_shape(height, width, prep)
    r, c = divmod(top, cols)
    x, y, w, h = case.box
    cx, cy = x + w / 2, y + h / 2
    return r * height / rows <= cy < (r + 1) * height / rows and c * width / cols <= cx < (c + 1) * width / cols


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v7.json")
    parser.add_argument("--per-fold", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cell", type=int, default=0, help="score the composites on a grid of this cell instead "
                        "of the config's (224: crops tiling the whole image); the heads are the config's")
    parser.add_argument("--max-crops", type=int, default=48, help="with --cell, at most this many crops")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), patch_tests=0)
    prep = config.preprocessing
    if args.cell:
        prep = replace(prep, cell=args.cell, max_crops=args.max_crops)

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, Path.cwd(), log)
    reconstruct = taef2_reconstructor(Path.cwd() / config.taef2_weights if config.taef2_weights else None)
    if reconstruct is None:
        raise SystemExit("needs the TAEF2 weights (the config's taef2_weights)")
    rng = random.Random(args.seed)

    def encoded(key: str, make) -> Encoded:
        return cached_views(m.cache, f"anywhere:{key}", m.encoder, prep, config.features, make)

    cases: list[PatchCase] = []
    for k in range(config.folds):
        index = [int(i) for i in np.flatnonzero(m.fold == k)]
        rng.shuffle(index)
        hosts = [i for i in index if m.y[i] == 0 and m.sizes[i][0] * m.sizes[i][1] >= MIN_REAL_PIXELS][: args.per_fold]
        donors = [i for i in index if m.y[i] == 1 and min(m.sizes[i]) >= PATCH]
        for n, i in enumerate(hosts):
            h, w = m.sizes[i]
            box = (8 * rng.randrange((w - PATCH) // 8 + 1), 8 * rng.randrange((h - PATCH) // 8 + 1), PATCH, PATCH)
            name = f"{m.records[i].path}#{m.records[i].tile}"
            donor = donors[n % len(donors)]
            plain = encoded(f"plain:{name}", lambda i=i: load_pixels(m.records[i]))
            pasted = encoded(f"pasted:{name}:{m.records[donor].path}:{box}",
                             lambda i=i, d=donor, b=box: paste(load_pixels(m.records[i]),
                                                                centre_crop(load_pixels(m.records[d]), PATCH), b))
            regenerated = encoded(f"regenerated:{name}:{box}",
                                  lambda i=i, b=box: regenerate(load_pixels(m.records[i]), b, reconstruct))
            crops = crop_boxes((h, w), prep)
            cases += [PatchCase("generated_patch_anywhere", i, box, crops, pasted, plain),
                      PatchCase("regenerated_anywhere", i, box, crops, regenerated, plain)]
        log(f"fold {k + 1}/{config.folds}: {len(hosts)} photos encoded")
    oof = out_of_fold(config, replace(m, cases=cases), log)
    logits = {c: pooled("max", oof.scored[c]) for c in CONDITIONS}
    temperature = fit_temperature_on(logits, m.y, m.groups, np.ones(len(m.y), bool))
    scaling = region_scaling_of(oof, m.y) if oof.region_scored is not None else (1.0, 0.0)
    summary = patch_summary(oof.cases, "max", temperature, scaling)

    print("\n| test | n | top crop in the patch | top cell holds the patch | where a crop could see it: n, "
          "crop / cell | mean p before -> after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for test in ("generated_patch_anywhere", "regenerated_anywhere"):
        group = [c for c in oof.cases if c.test == test]
        crop_hits, cell_hits, seeable = [], [], []
        for c in group:
            cells = c.patched_region if len(c.patched_region) else c.patched[0]
            top = int(np.argmax(cells))
            crop_hits.append(inside(c.crops[top], c.box) >= 0.5)
            cell_hits.append(cell_holds_centre(c, top, m.sizes[c.host], prep))
            seeable.append(any(inside(b, c.box) >= 0.5 for b in c.crops))
        s = np.array(seeable)
        row = summary[test]
        print(f"| {test} | {len(group)} | {np.mean(crop_hits):.1%} | {np.mean(cell_hits):.1%} | {int(s.sum())}: "
              f"{np.mean(np.array(crop_hits)[s]):.1%} / {np.mean(np.array(cell_hits)[s]):.1%} | "
              f"{row['mean_p_before']} -> {row['mean_p_after']} |")


if __name__ == "__main__":
    main()
