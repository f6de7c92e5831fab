"""Leave-source-out training of the whole-image head (issue 31, kind "clip_grid_probe").

The head before it read one centre crop and the global view: a real patch over the centre hid a
generated image, and a generated patch in a corner of a real photo changed nothing. Here:

1. every image is encoded as the runtime encodes it (models/clip_probe.encode_views: its grid
   of native crops from edge to edge and the global view, in one call of the int8 graph, whose
   activations are quantised per call) in each condition of training/source_folds.py (clean,
   laundered, the web views; WebP q75 and AVIF q60 for the estimate). Images larger than
   PRE_CROP are cut to their centre PRE_CROP square for the crops (a codec on a 24-megapixel
   photo takes seconds) while the global view sees the image as a platform serves it;
2. one logistic head is trained on every crop and every global view, each labelled with its
   image's label (a crop of sky from a real photo is real, one from a generated image is
   generated); within an image the crops share half its weight and the global view has the
   other half; classes, and groups within a class, weigh the same;
3. out of fold (every score from a head that never saw the image's group) each pooling rule
   of the config (models/pooling.py) makes image logits; each is scored for AUC per condition
   and on patch tests built from the held-out fold's own images (datasets/partial.py): a
   generated image with a 320x320 real patch in its centre, or in a corner, must keep
   p >= 0.5; a real photo of 1 MP or more with a generated patch, or a region regenerated
   through TAEF2, in a corner: does the most suspicious crop lie in it, and how much does the
   score rise;
4. the rule shipped is the first of the config's list whose patch tests keep >= 90% of the
   generated images that scored >= 0.5, with the best mean AUC among those; its temperature
   is fitted on the out-of-fold logits, and the head is trained on every image.

    synthcheck train training/configs/clip-v5.json"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analyzers.classifier import standout_region
from ..datasets.partial import CORNERS, centre_box, corner_box, inside, paste, regenerate
from ..datasets.records import ImageRecord, load_pixels
from ..models.clip_probe import encode_views
from ..models.crops import crop_grid
from ..models.pooling import POOLINGS, image_logit
from .metrics import auc, centre_crop
from .source_folds import (
    CONDITIONS,
    cap_groups,
    condition_transforms,
    fit_temperature_on,
    fold_of,
    held_out_estimate,
    held_out_probabilities,
    served,
    write_head_and_card,
)

PRE_CROP = 1024
PATCH = 320  # the side of a pasted or regenerated region (the tests)
KEEP_TARGET = 0.9  # share of generated images a real patch must not pull below 0.5
MIN_GENERATED_SIDE = 768  # the centre-patch test's generated images (the issue's: >= 768 px)
MIN_REAL_PIXELS = 1_000_000  # the corner tests' real photos (the issue's: 1 MP and more)


@dataclass
class Encoded:
    """One image in one condition: the head's input per crop and for the global view."""

    crops: np.ndarray  # [n, D] float16
    whole: np.ndarray  # [D] float16


def grid_tag(prep) -> str:
    return f"grid{prep.crop_size}c{prep.cell}m{prep.max_crops}"


def encode_records(records: list[ImageRecord], encoder, prep, features: str, transforms: dict[str, Callable],
                   cache: Path, log) -> dict[str, list[Encoded]]:
    """tag -> each record's Encoded, cached on disk by file, tile, grid and tag. Pixels are read
    and transformed in a second thread while the encoder runs (both release the GIL)."""
    cache.mkdir(parents=True, exist_ok=True)
    grid = grid_tag(prep)
    out: dict[str, list[Encoded]] = {tag: [] for tag in transforms}

    def key_of(record: ImageRecord, tag: str) -> str:
        return hashlib.sha256(f"{record.path}#{record.tile}#{grid}#{tag}".encode()).hexdigest()[:32]

    def views(record: ImageRecord) -> dict[str, tuple[np.ndarray, np.ndarray | None] | None]:
        """tag -> (the crops' image, the global view's image or None), None where cached."""
        missing = [tag for tag in transforms if not (cache / f"{key_of(record, tag)}.npz").exists()]
        if not missing:
            return {}
        rgb = load_pixels(record)
        big = max(rgb.shape[:2]) > PRE_CROP
        native, whole = (centre_crop(rgb, PRE_CROP), served(rgb)) if big else (rgb, None)
        result: dict[str, tuple[np.ndarray, np.ndarray | None] | None] = {}
        for tag in missing:
            key = key_of(record, tag)
            result[tag] = (transforms[tag](native, key), None if whole is None else transforms[tag](whole, key))
        return result

    started = time.time()
    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(views, r) for r in records[:2]]
        for n, record in enumerate(records):
            ready = pending.pop(0).result()
            if n + 2 < len(records):
                pending.append(pool.submit(views, records[n + 2]))
            for tag in transforms:
                path = cache / f"{key_of(record, tag)}.npz"
                if tag in ready:
                    native, whole = ready[tag]  # type: ignore[misc]
                    _, _, crops, glob = encode_views(encoder, prep, features, native, whole)
                    assert glob is not None
                    np.savez(path, crops=crops.astype(np.float16), whole=glob.astype(np.float16))
                saved = np.load(path)
                out[tag].append(Encoded(saved["crops"], saved["whole"]))
            if n and n % 250 == 0:
                log(f"encoded {n}/{len(records)} images ({time.time() - started:.0f} s)")
    return out


def row_matrix(encoded: dict[str, list[Encoded]], images: np.ndarray, tags: list[str], y: np.ndarray,
               groups: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features [rows, D] float32, labels, weights summing to 1) of the images' crops and global
    views in every tag: within an image the crops share half its weight and the global view
    has the other half; every image weighs the same within its group, groups within a class,
    classes and tags alike."""
    image_weight = group_balanced(y[images], [groups[i] for i in images])
    xs, ys, ws = [], [], []
    for tag in tags:
        for i, w in zip(images, image_weight):
            e = encoded[tag][i]
            n = len(e.crops)
            xs.append(e.crops)
            xs.append(e.whole[None])
            ys.append(np.full(n + 1, y[i]))
            ws.append(np.concatenate([np.full(n, w / (2 * n)), [w / 2]]) / len(tags))
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(ws))


def group_balanced(y: np.ndarray, groups: list[str]) -> np.ndarray:
    """Per image: each class sums to 1/2, every group the same share of its class."""
    out = np.zeros(len(y))
    for label in (0, 1):
        in_class = [i for i in range(len(y)) if y[i] == label]
        by_group: dict[str, list[int]] = defaultdict(list)
        for i in in_class:
            by_group[groups[i]].append(i)
        for members in by_group.values():
            out[members] = 0.5 / (len(by_group) * len(members))
    return out


def fit(encoded: dict[str, list[Encoded]], images: np.ndarray, tags: list[str], y: np.ndarray,
        groups: list[str], weight_decay: float):
    from .clip_features import fit_head

    x, labels, weights = row_matrix(encoded, images, tags, y, groups)
    return fit_head(x, labels, [], weight_decay, row_weights=weights)


def logits_of(head, e: Encoded) -> tuple[np.ndarray, float]:
    return head(e.crops.astype(np.float64)), float(head(e.whole[None].astype(np.float64))[0])


def pooled(rule: str, scored: list[tuple[np.ndarray, float]]) -> np.ndarray:
    return np.array([image_logit(rule, crops, whole) for crops, whole in scored])


# ---------------------------------------------------------------- patch tests (held-out fold)

@dataclass
class PatchCase:
    test: str  # "real_patch_centre", "real_patch_corner", "generated_patch_corner", "regenerated_corner"
    host: int  # index of the host image in the records
    box: tuple[int, int, int, int]
    crops: list[tuple[int, int, int, int]]  # the runtime's crop boxes on the composite
    patched: tuple[np.ndarray, float]  # (crop logits, global logit) of the composite
    plain: tuple[np.ndarray, float]  # of the host as it is


def patch_cases(records: list[ImageRecord], rows: np.ndarray, y: np.ndarray, head, encoder, prep, features: str,
                per_test: int, seed: int, reconstruct: Callable[[np.ndarray], np.ndarray] | None,
                sizes: dict[int, tuple[int, int]]) -> list[PatchCase]:
    """The patch tests on the images of `rows` (one held-out fold), scored by `head`."""
    rng = random.Random(seed)
    index = [int(i) for i in np.flatnonzero(rows)]
    rng.shuffle(index)
    generated = [i for i in index if y[i] == 1 and min(sizes[i]) >= MIN_GENERATED_SIDE][:per_test]
    reals = [i for i in index if y[i] == 0 and min(sizes[i]) >= PATCH]
    large = [i for i in reals if sizes[i][0] * sizes[i][1] >= MIN_REAL_PIXELS][:per_test]
    donors = [i for i in index if y[i] == 1 and min(sizes[i]) >= PATCH]
    if not donors or not reals:
        return []

    def score(rgb: np.ndarray) -> tuple[np.ndarray, float]:
        _, _, crops, whole = encode_views(encoder, prep, features, rgb)
        assert whole is not None
        return head(crops), float(head(whole[None])[0])

    def boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        size = prep.crop_size
        _, _, corners = crop_grid(max(rgb.shape[0], size), max(rgb.shape[1], size), prep)
        return [(x, y0, size, size) for y0, x in corners]

    def patch_of(i: int) -> np.ndarray:
        return centre_crop(load_pixels(records[i]), PATCH)

    cases = []
    for n, i in enumerate(generated):
        host = load_pixels(records[i])
        plain = score(host)
        h, w = host.shape[:2]
        real = patch_of(reals[n % len(reals)])
        for test, box in (("real_patch_centre", centre_box(h, w, PATCH)),
                          ("real_patch_corner", corner_box(h, w, PATCH, CORNERS[n % 4]))):
            composite = paste(host, real, box)
            cases.append(PatchCase(test, i, box, boxes(composite), score(composite), plain))
    for n, i in enumerate(large):
        host = load_pixels(records[i])
        plain = score(host)
        h, w = host.shape[:2]
        box = corner_box(h, w, PATCH, CORNERS[(n + seed) % 4])
        composite = paste(host, patch_of(donors[n % len(donors)]), box)
        cases.append(PatchCase("generated_patch_corner", i, box, boxes(composite), score(composite), plain))
        if reconstruct is not None:
            composite = regenerate(host, box, reconstruct)
            cases.append(PatchCase("regenerated_corner", i, box, boxes(composite), score(composite), plain))
    return cases


def patch_summary(cases: list[PatchCase], rule: str, temperature: float) -> dict[str, Any]:
    """Per test: for real patches, the share of generated images at p >= 0.5 that stay there;
    for generated or regenerated regions, how often the most suspicious crop lies mostly
    (>= half its area) in the region, and the mean rise of p."""
    out: dict[str, Any] = {}
    by_test: dict[str, list[PatchCase]] = defaultdict(list)
    for case in cases:
        by_test[case.test].append(case)

    def p(scored: tuple[np.ndarray, float]) -> float:
        return float(1 / (1 + np.exp(-image_logit(rule, *scored) / temperature)))

    def standout(scored: tuple[np.ndarray, float], crops: list) -> tuple[int, int, int, int] | None:
        """The crop box the report would name (the regions as the runtime writes them), or None."""
        cells = 1 / (1 + np.exp(-scored[0] / temperature))
        found = standout_region([[float(v) for v in cells]])
        return None if found is None else crops[found[1]]

    for test, group in by_test.items():
        if test.startswith("real_patch"):
            flagged = [c for c in group if p(c.plain) >= 0.5]
            kept = sum(p(c.patched) >= 0.5 for c in flagged)
            out[test] = {"n": len(group), "flagged_before": len(flagged), "kept": int(kept),
                         "kept_share": round(kept / len(flagged), 3) if flagged else None}
        else:
            hits = sum(inside(c.crops[int(np.argmax(c.patched[0]))], c.box) >= 0.5 for c in group)
            rise = [p(c.patched) - p(c.plain) for c in group]
            named = [standout(c.patched, c.crops) for c in group]
            named_plain = [standout(c.plain, c.crops) for c in group]
            out[test] = {"n": len(group), "top_crop_in_region": int(hits),
                         "hit_share": round(hits / len(group), 3) if group else None,
                         "mean_p_before": round(float(np.mean([p(c.plain) for c in group])), 3),
                         "mean_p_after": round(float(np.mean([p(c.patched) for c in group])), 3),
                         "mean_rise": round(float(np.mean(rise)), 3),
                         "newly_at_least_half": int(sum(p(c.patched) >= 0.5 > p(c.plain) for c in group)),
                         # the report's sentence (analyzers/classifier.standout_region): names the region / names
                         # a region of the same photo untouched
                         "standout_names_region": int(sum(b is not None and inside(b, c.box) >= 0.5
                                                          for b, c in zip(named, group))),
                         "standout_on_untouched": int(sum(b is not None for b in named_plain))}
    return out


def taef2_reconstructor(weights: Path | None) -> Callable[[np.ndarray], np.ndarray] | None:
    if weights is None or not (weights / "taef2_encoder.pth").is_file():
        return None
    from ..datasets.aligned import AlignedFakeBuilder

    builder = AlignedFakeBuilder(taef2_weights=weights)
    return lambda rgb: builder.make(rgb, "taef2")


# ---------------------------------------------------------------- the trainer

def train(config, out: Path, repo_root: Path, feature_cache: Path | None = None) -> Path:

    from ..cache import cache_root
    from ..models.clip_probe import ClipEncoder
    from .clip_features import split_items

    started = time.time()

    def log(message: str) -> None:
        print(f"synthcheck train: {message}", flush=True)

    unknown = set(config.poolings) - set(POOLINGS)
    if unknown or not config.poolings:
        raise ValueError(f"poolings must be some of {sorted(POOLINGS)} (got {list(config.poolings)})")
    if config.views != ("centre", "global") or not config.cell:
        raise ValueError("a clip_grid_probe config needs views [\"centre\", \"global\"] and a cell")
    records = [r for split in split_items(config, repo_root).values() for r in split]
    records = cap_groups(records, config.cap_per_group, repo_root)
    y = np.array([r.label for r in records], float)
    groups = [r.group for r in records]
    log(f"{config.name}: {len(records)} images, {len(set(groups))} groups, {config.folds} folds, grid every "
        f"{config.cell} px (at most {config.max_crops} crops) and the global view, in one call")
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    prep = config.preprocessing
    cache = ((feature_cache or cache_root() / "features")
             / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}")
    transforms = condition_transforms(config.seed, config.web_views)
    encoded = encode_records(records, encoder, prep, config.features, transforms, cache, log)
    log(f"features: {time.time() - started:.0f} s")
    tags = [t for t in transforms if t not in ("webp_q75", "avif_q60")]
    fold = np.array([fold_of(g, config.folds) for g in groups])
    scored: dict[str, list[tuple[np.ndarray, float]]] = {c: [(np.zeros(0), 0.0)] * len(records) for c in CONDITIONS}
    sizes = {i: _size(r) for i, r in enumerate(records)}
    reconstruct = taef2_reconstructor(repo_root / config.taef2_weights if config.taef2_weights else None)
    cases: list[PatchCase] = []
    for k in range(config.folds):
        head = fit(encoded, np.flatnonzero(fold != k), tags, y, groups, config.weight_decay)
        for c in CONDITIONS:
            for i in np.flatnonzero(fold == k):
                scored[c][i] = logits_of(head, encoded[c][i])
        if config.patch_tests:
            cases += patch_cases(records, fold == k, y, head, encoder, prep, config.features, config.patch_tests,
                                 config.seed + k, reconstruct, sizes)
        log(f"fold {k + 1}/{config.folds} scored ({time.time() - started:.0f} s)")
    _keep_for_experiments(config.name, {"records": [str(r.path) for r in records], "y": y, "groups": groups,
                                         "fold": fold, "scored": scored, "cases": cases})
    comparison, chosen = compare_poolings(config.poolings, scored, y, groups, fold, cases)
    for rule, row in comparison.items():
        log(f"pooling {rule}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "patch_tests")
            + f"; patch tests {row['patch_tests']}")
    log(f"pooling chosen: {chosen}")
    logits = {c: pooled(chosen, scored[c]) for c in CONDITIONS}
    estimate = held_out_estimate(config, records, y, groups, fold, logits, repo_root)
    temperature = round(fit_temperature_on(logits, y, groups, np.ones(len(y), bool)), 4)
    estimate["poolings"] = comparison
    estimate["patch_tests"] = patch_summary(cases, chosen, temperature)
    head = fit(encoded, np.arange(len(records)), tags, y, groups, config.weight_decay)
    card = write_head_and_card(
        config, out, head, encoder, temperature, estimate, records, tags, repo_root, started, render_readme,
        metrics={"shipped": "clip probe on the whole-image grid", "temperature_fitted_on": "out-of-fold logits of "
                 "every image under the chosen pooling, all conditions pooled, classes and groups weighted equally"},
        pooling=chosen)
    c = estimate["conditions"]
    log(f"wrote {out} (leave-source-out AUC " + " / ".join(f"{k} {v['auc']}" for k, v in c.items())
        + f"; pooling {chosen}; temperature {temperature}; {card.training['wall_clock_minutes']} min)")
    return out


def _keep_for_experiments(name: str, material: dict[str, Any]) -> None:
    """The out-of-fold crop logits and patch cases, for training/experiments/ to study rules
    without refitting (cache/experiments/<name>-out-of-fold.pkl)."""
    import pickle

    from ..cache import cache_root

    folder = cache_root() / "experiments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-out-of-fold.pkl").write_bytes(pickle.dumps(material))


def _size(record: ImageRecord) -> tuple[int, int]:
    """(height, width) of the record's pixels (a tile is half its file each way)."""
    from PIL import Image

    with Image.open(record.path) as im:
        w, h = im.size
    return (h // 2, w // 2) if record.tile is not None else (h, w)


def compare_poolings(rules: tuple[str, ...], scored: dict[str, list[tuple[np.ndarray, float]]], y: np.ndarray,
                     groups: list[str], fold: np.ndarray, cases: list[PatchCase]) -> tuple[dict[str, Any], str]:
    """Each rule's out-of-fold AUC per condition, real images at `high` (default and kyc, clean
    and AVIF), and its patch tests; the chosen rule (module docstring, step 4)."""
    from .evaluate import real_at_level_high

    table: dict[str, Any] = {}
    for rule in rules:
        logits = {c: pooled(rule, scored[c]) for c in CONDITIONS}
        p = held_out_probabilities(logits, y, groups, fold)
        temperature = fit_temperature_on(logits, y, groups, np.ones(len(y), bool))
        table[rule] = {**{f"auc_{c}": round(auc(y, logits[c]), 4) for c in CONDITIONS},
                       **{f"real_high_{pol}_{c}": real_at_level_high(p[c][y == 0], y[y == 0], pol)
                          for pol in ("default", "kyc") for c in ("clean", "avif_q60")},
                       "patch_tests": patch_summary(cases, rule, temperature)}

    def keeps(rule: str) -> bool:
        tests = table[rule]["patch_tests"]
        shares = [t["kept_share"] for name, t in tests.items() if name.startswith("real_patch")]
        return all(s is not None and s >= KEEP_TARGET for s in shares)

    def mean_auc(rule: str) -> float:
        return float(np.mean([table[rule][f"auc_{c}"] for c in CONDITIONS]))

    passing = [r for r in rules if keeps(r)]
    chosen = max(passing or rules, key=mean_auc)
    return table, chosen


def render_readme(card) -> str:
    """source_folds' card for people, with the grid, the pooling comparison and the patch tests."""
    from .source_folds import render_readme as base

    text = base(card)
    p, estimate = card.preprocessing, card.metrics["leave_source_out"]
    lines = ["## Whole image: the grid, the pooling rule, the patch tests (issue 31)", "",
             f"- Crops of {p.crop_size}x{p.crop_size} at native resolution every {p.cell} px from edge to edge (a "
             f"corner is always a crop), at most {p.max_crops} per image, encoded with the global view in one call; "
             f"each crop's probability is a cell of the report's `regions`. Pooling: `{card.pooling}` "
             "(models/pooling.py).",
             "- Rules compared out of fold (AUC per condition; real images at `high`, default and kyc, clean and AVIF; "
             "real patch: share of the generated images at p >= 0.5 that keep it with a 320x320 real patch; "
             "generated or regenerated corner: share of real photos of 1 MP and more whose most suspicious crop lies "
             "in the region):", "",
             "| rule | AUC clean / laundered / WebP / AVIF | real at high default (clean / AVIF) | kyc (clean / AVIF) "
             "| real patch centre | real patch corner | generated corner | regenerated corner |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(tests: dict, name: str, key: str) -> str:
        t = tests.get(name)
        if not t or t.get(key) is None:
            return "-"
        return f"{t[key]:.0%} of {t['flagged_before'] if 'kept' in key else t['n']}"

    for rule, row in estimate["poolings"].items():
        tests = row["patch_tests"]
        lines.append(f"| {rule}{' (shipped)' if rule == card.pooling else ''} | "
                     + " / ".join(f"{row[f'auc_{c}']:.3f}" for c in CONDITIONS) + " | "
                     + f"{row['real_high_default_clean']:.1%} / {row['real_high_default_avif_q60']:.1%} | "
                     + f"{row['real_high_kyc_clean']:.1%} / {row['real_high_kyc_avif_q60']:.1%} | "
                     + " | ".join(cell(tests, n, k) for n, k in (("real_patch_centre", "kept_share"),
                                                                  ("real_patch_corner", "kept_share"),
                                                                  ("generated_patch_corner", "hit_share"),
                                                                  ("regenerated_corner", "hit_share"))) + " |")
    shipped = estimate.get("patch_tests", {})
    if shipped:
        lines += ["", "The shipped rule at the shipped temperature, on the held-out folds' composites:", ""]
        for name, t in shipped.items():
            lines.append(f"- `{name}`: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    lines.append("")
    return text.replace("## License", "\n".join(lines) + "\n## License")
