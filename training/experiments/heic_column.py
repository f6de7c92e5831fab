"""Issue 31: HEIC, the format phones save photos in, as a fifth condition out of fold. The
leave-source-out conditions (clean, laundered, WebP q75, AVIF q60) have no HEIC column: encoding
every image as HEIC (x265) takes ~2 s per 1536 px image on 2 cores, hours for the whole set.
Here a sample, at most `--per-group` real images of each repository or camera make and
`--per-generator` of each generator (a deterministic draw by path hash), is seen as HEIC q75
the way the other conditions are (crops from the image as served, the global view from it
shrunk), encoded and cached like them. Every image of the set is scored by the heads of the
folds that did not hold it (the config's recipe, maximum rule), each fold's temperature fitted
on the other folds' held-out logits of the four usual conditions, as the cards do. Printed, on
the sample only, so that the five columns compare the same images: AUC, real images at `high`
per policy and generated images at `high` under `kyc`, per condition.

    python training/experiments/heic_column.py [--config training/configs/clip-v7.json] [--per-group 3]
           [--per-generator 15]

Results: training/experiments/README.md ("HEIC, out of fold")."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.training.clip_features import ClipTrainConfig, codec_transform
from synthcheck.training.evaluate import real_at_level_high
from synthcheck.training.grid_folds import encode_records, fit_as_configured, logits_of, material, pooled
from synthcheck.training.metrics import auc
from synthcheck.training.source_folds import CONDITIONS, fit_temperature_on


def sample(records, per_group: int, per_generator: int) -> list[int]:
    """At most `per_group` indices of each group of real images and `per_generator` of each group
    of generated ones (there are far fewer generators than repositories and camera makes), the
    first by the hash of their path."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    chosen = []
    for members in by_group.values():
        members.sort(key=lambda i: hashlib.sha256(str(records[i].path).encode()).hexdigest())
        chosen += members[: per_generator if records[members[0]].label == 1 else per_group]
    return sorted(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v7.json")
    parser.add_argument("--per-group", type=int, default=3, help="real images per repository or camera make")
    parser.add_argument("--per-generator", type=int, default=15, help="generated images per generator group")
    parser.add_argument("--quality", type=int, default=75)
    parser.add_argument("--out", type=Path, default=None, help="write the sample's probabilities as JSON here")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), partial_fakes=0, patch_tests=0)

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, Path.cwd(), log)
    chosen = sample(m.records, args.per_group, args.per_generator)
    y = m.y[chosen]
    log(f"sample: {len(chosen)} images ({int((y == 0).sum())} real, {int((y == 1).sum())} generated) of "
        f"{len(set(m.groups[i] for i in chosen))} groups, as HEIC q{args.quality}")
    heic = encode_records([m.records[i] for i in chosen], m.encoder, config.preprocessing, config.features,
                          {f"heic_q{args.quality}": codec_transform("HEIF", args.quality)}, m.cache, log)
    heic_rows = dict(zip(chosen, next(iter(heic.values()))))

    scored = {c: [(np.zeros(0), 0.0)] * len(m.records) for c in CONDITIONS}
    heic_scored: dict[int, tuple[np.ndarray, float]] = {}
    for k in range(config.folds):
        head = fit_as_configured(config, m, np.flatnonzero(m.fold != k))
        for i in np.flatnonzero(m.fold == k):
            for c in CONDITIONS:
                scored[c][i] = logits_of(head, m.encoded[c][i])
            if i in heic_rows:
                heic_scored[i] = logits_of(head, heic_rows[i])
        log(f"fold {k + 1}/{config.folds} scored")
    logits = {c: pooled("max", scored[c])[chosen] for c in CONDITIONS}
    logits[f"heic_q{args.quality}"] = pooled("max", [heic_scored[i] for i in chosen])
    # every condition, HEIC too, at the temperature of the image's fold: fitted, as the cards do, on
    # the other folds' held-out logits of the four usual conditions (all images, not the sample)
    everyone = {c: pooled("max", scored[c]) for c in CONDITIONS}
    fold_temperature = {k: fit_temperature_on(everyone, m.y, m.groups, m.fold != k) for k in range(config.folds)}
    temperature = np.array([fold_temperature[int(m.fold[i])] for i in chosen])
    p = {c: 1 / (1 + np.exp(-np.clip(z / temperature, -500, 500))) for c, z in logits.items()}

    real, generated = y == 0, y == 1
    print("\n| condition | AUC | real at `high` default / moderation / kyc | generated at `high` kyc |")
    print("| --- | --- | --- | --- |")
    for c, probs in p.items():
        highs = " / ".join(f"{real_at_level_high(probs[real], y[real], pol):.2%}"
                           for pol in ("default", "moderation", "kyc"))
        found = real_at_level_high(probs[generated], np.zeros(int(generated.sum())), "kyc")
        print(f"| {c} | {auc(y, probs):.4f} | {highs} | {found:.1%} |")
    if args.out:
        args.out.write_text(json.dumps({"paths": [str(m.records[i].path) for i in chosen], "y": y.tolist(),
                                        "groups": [m.groups[i] for i in chosen],
                                        "p": {c: v.tolist() for c, v in p.items()}}))


if __name__ == "__main__":
    main()
