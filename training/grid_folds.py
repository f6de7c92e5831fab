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
   other half; classes, and groups within a class, weigh the same; a config's
   `pooled_loss_weight` puts that share of the loss on each real image's pooled logit
   (`pooled_term`: a real photo's false alarm is its worst crop);
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

    synthcheck train training/configs/clip-v7.json"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..analyzers.classifier import scored_area, standout_region
from ..datasets.partial import CORNERS, centre_box, corner_box, inside, paste, regenerate
from ..datasets.records import ImageRecord, load_pixels
from ..models.clip_probe import encode_views
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


def feature_tag(features: str) -> str:
    """What a cached file's key adds for the features' kind: nothing for "cls", which every cache
    before the patch tokens holds (so that those files stay valid)."""
    return "" if features == "cls" else f"#{features}"


def encode_records(records: list[ImageRecord], encoder, prep, features: str, transforms: dict[str, Callable],
                   cache: Path, log) -> dict[str, list[Encoded]]:
    """tag -> each record's Encoded, cached on disk by file, tile, grid and tag. Pixels are read
    and transformed in a second thread while the encoder runs (both release the GIL)."""
    cache.mkdir(parents=True, exist_ok=True)
    grid = grid_tag(prep)
    out: dict[str, list[Encoded]] = {tag: [] for tag in transforms}

    def key_of(record: ImageRecord, tag: str) -> str:
        name = f"{record.path}#{record.tile}#{grid}#{tag}{feature_tag(features)}"
        return hashlib.sha256(name.encode()).hexdigest()[:32]

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


def partial_rows(partials: list[PartialFake], share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, weights summing to `share`) of the partial fakes' labelled crops: each
    class half of it, every composite the same share of its class."""
    xs, ys, ws = [], [], []
    for label in (0, 1):
        holding = [p for p in partials if (p.labels == label).any()]
        for p in holding:
            rows = np.flatnonzero(p.labels == label)
            xs.append(p.encoded.crops[rows])
            ys.append(np.full(len(rows), label))
            ws.append(np.full(len(rows), share / 2 / len(holding) / len(rows)))
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(ws))


def pooled_term(encoded: dict[str, list[Encoded]], images: np.ndarray, tags: list[str], y: np.ndarray,
                groups: list[str], share: float, tau: float, extra_rows: int = 0):
    """The real images' pooled logits (clip_features.PooledTerm) over row_matrix's rows, in its
    order (per tag, per image: its crops, then its global view), then `extra_rows` rows of no
    image (the partial fakes'). Real images only: a real photo's false alarm is its worst crop,
    while a generated image's every crop already learns to be generated (the per-crop loss),
    which is what keeps it flagged under a real patch; putting generated images' pooled logits
    in too, or a smooth minimum of their crops, gave back the false alarms (measured,
    training/experiments/README.md)."""
    from .clip_features import PooledTerm

    real = images[y[images] == 0]
    real_weight = group_balanced(np.zeros(len(real)), [groups[i] for i in real]) * 2  # sums to 1
    position = {int(i): n for n, i in enumerate(real)}
    row_image, row_is_crop = [], []
    for t, tag in enumerate(tags):
        for i in images:
            n = len(encoded[tag][i].crops)
            at = position.get(int(i), -1)
            row_image.append(np.full(n + 1, -1 if at < 0 else at + t * len(real)))
            row_is_crop.append(np.r_[np.ones(n, bool), False])
    row_image.append(np.full(extra_rows, -1))
    row_is_crop.append(np.ones(extra_rows, bool))
    return PooledTerm(share, tau, np.concatenate(row_image), np.concatenate(row_is_crop),
                      np.zeros(len(real) * len(tags)), np.tile(real_weight / len(tags), len(tags)))


def fit(encoded: dict[str, list[Encoded]], images: np.ndarray, tags: list[str], y: np.ndarray,
        groups: list[str], weight_decay: float, partials: list[PartialFake] | None = None, partial_weight: float = 0.0,
        pooled_weight: float = 0.0, pooled_tau: float = 0.5):
    """The head on the images' rows, the partial fakes' labelled crops weighing `partial_weight`
    of that loss when there are any, and the real images' pooled logits (`pooled_term`) weighing
    `pooled_weight` of the whole."""
    from .clip_features import fit_head

    x, labels, weights = row_matrix(encoded, images, tags, y, groups)
    image_rows = len(x)
    if partials and partial_weight > 0:
        px, plabels, pweights = partial_rows(partials, partial_weight)
        x, labels = np.concatenate([x, px]), np.concatenate([labels, plabels])
        weights = np.concatenate([weights * (1 - partial_weight), pweights])
    pooled = (pooled_term(encoded, images, tags, y, groups, pooled_weight, pooled_tau, len(x) - image_rows)
              if pooled_weight > 0 else None)
    return fit_head(x, labels, [], weight_decay, row_weights=weights, pooled=pooled)


def fit_as_configured(config, m: Material, images: np.ndarray, partials: list[PartialFake] | None = None,
                      partial_weight: float = 0.0, encoded: dict[str, list[Encoded]] | None = None):
    """`fit` with the config's recipe (its weight decay and pooled loss) on `images` of m; `encoded`
    replaces m.encoded where an experiment changes what the head is trained on."""
    return fit(m.encoded if encoded is None else encoded, images, m.tags, m.y, m.groups, config.weight_decay,
               partials, partial_weight, pooled_weight=config.pooled_loss_weight, pooled_tau=config.pooled_loss_tau)


def crop_boxes(shape: tuple[int, ...], prep) -> list[tuple[int, int, int, int]]:
    """The runtime's crop boxes (x, y, width, height) on an image of this shape: what the report's
    `crops` say (analyzers/classifier.scored_area), so that a composite's crops are labelled and
    a patch test scored on the boxes an analyst is shown."""
    return [(x, y, w, h) for x, y, w, h in scored_area(shape[1], shape[0], prep).crops]


def logits_of(head, e: Encoded) -> tuple[np.ndarray, float]:
    return head(e.crops.astype(np.float64)), float(head(e.whole[None].astype(np.float64))[0])


def pooled(rule: str, scored: list[tuple[np.ndarray, float]]) -> np.ndarray:
    return np.array([image_logit(rule, crops, whole) for crops, whole in scored])


# ---------------------------------------------------------------- partial fakes (training)

@dataclass
class PartialFake:
    """A real photo with one region made by a generator, its crops labelled by where they lie:
    1 inside the region (at least half the crop), 0 outside it, -1 astride its edge (left out)."""

    host: int  # index of the real photo in the records
    kind: str  # "regenerated" (TAEF2) or "pasted" (a generated image's patch, feathered)
    encoded: Encoded
    labels: np.ndarray


def region_around(crop: tuple[int, int, int, int], height: int, width: int, rng: random.Random
                  ) -> tuple[int, int, int, int]:
    """A box holding the crop and up to 64 px more on each side, within the image, its corner and
    sides on multiples of 8 (TAEF2's latent stride)."""
    x, y0, w, h = crop
    left, top = max(0, x - rng.randrange(0, 65)) // 8 * 8, max(0, y0 - rng.randrange(0, 65)) // 8 * 8
    right = min(width, x + w + rng.randrange(0, 65))
    bottom = min(height, y0 + h + rng.randrange(0, 65))
    right, bottom = left + max(8, (right - left) // 8 * 8), top + max(8, (bottom - top) // 8 * 8)
    return left, top, min(right, width // 8 * 8) - left, min(bottom, height // 8 * 8) - top


def partial_fakes(records: list[ImageRecord], y: np.ndarray, fold: np.ndarray, sizes: dict[int, tuple[int, int]],
                  encoder, prep, features: str, reconstruct: Callable[[np.ndarray], np.ndarray], per_fold: int,
                  seed: int, cache: Path, log, web_views: int = 0) -> list[PartialFake]:
    """Per fold, `per_fold` of its real photos (their centre PRE_CROP square, as training sees
    them) with the region around one random crop regenerated through TAEF2; every second one
    also with a patch of one of the fold's generated images pasted around another crop. The
    donors come from the host's own fold, so a head never trains on a held-out fold's pixels.
    Each composite enters clean and through `web_views` web treatments (metrics.WEB_VIEWS,
    drawn per composite; a resize moves the region and the grid with it), so that what a codec
    does to a real photo is not what the head learns a generator's decoder does. Encoded as the
    runtime encodes (one call with the global view), cached on disk."""
    from .metrics import web_view

    cache.mkdir(parents=True, exist_ok=True)
    size = prep.crop_size
    out: list[PartialFake] = []
    started = time.time()

    def order(i: int) -> str:
        return hashlib.sha256(f"partial{seed}:{records[i].path}#{records[i].tile}".encode()).hexdigest()

    def labelled(composite: np.ndarray, box: tuple[int, int, int, int]) -> tuple[Encoded, np.ndarray]:
        share = np.array([inside(crop, box) for crop in crop_boxes(composite.shape, prep)])
        _, _, feats, whole = encode_views(encoder, prep, features, composite)
        assert whole is not None
        return Encoded(feats, whole), np.where(share >= 0.5, 1, np.where(share == 0, 0, -1))

    for k in sorted(set(int(f) for f in fold)):
        in_fold = sorted((int(i) for i in np.flatnonzero(fold == k)), key=order)
        hosts = [i for i in in_fold if y[i] == 0 and min(sizes[i]) >= 2 * size][:per_fold]
        donors = [i for i in in_fold if y[i] == 1 and min(sizes[i]) >= size + 128]
        for n, i in enumerate(hosts):
            for kind in ["regenerated"] + (["pasted"] if donors and n % 2 else []):
                key = hashlib.sha256(f"{order(i)}#{kind}#{grid_tag(prep)}".encode()).hexdigest()[:32]
                stem = f"partial-{key}{feature_tag(features).replace('#', '-').replace('+', '-')}"
                paths = [cache / f"{stem}{'' if v < 0 else f'-web{v}'}.npz" for v in range(-1, web_views)]
                if not all(path.exists() for path in paths):
                    rng = random.Random(key)
                    native = centre_crop(load_pixels(records[i]), PRE_CROP)
                    h, w = native.shape[:2]
                    crops = crop_boxes(native.shape, prep)
                    box = region_around(crops[rng.randrange(len(crops))], h, w, rng)
                    if kind == "regenerated":
                        composite = regenerate(native, box, reconstruct)
                    else:
                        donor = load_pixels(records[donors[n % len(donors)]])
                        composite = paste(native, centre_crop(donor, max(box[2], box[3])), box)
                    for v, path in enumerate(paths, start=-1):
                        image, region = composite, box
                        if v >= 0:
                            image = web_view(composite, random.Random(f"{key}:web{v}"))[1]
                            scale = image.shape[1] / w  # a web view may shrink the image: the region goes along
                            region = (round(box[0] * scale), round(box[1] * scale), round(box[2] * scale),
                                      round(box[3] * scale))
                        encoded, labels = labelled(image, region)
                        np.savez(path, crops=encoded.crops.astype(np.float16),
                                 whole=encoded.whole.astype(np.float16), labels=labels)
                for path in paths:
                    saved = np.load(path)
                    out.append(PartialFake(i, kind, Encoded(saved["crops"], saved["whole"]), saved["labels"]))
        log(f"partial fakes of fold {k + 1}: {sum(p.host in hosts for p in out)} from {len(hosts)} real photos "
            f"({time.time() - started:.0f} s)")
    return out


# ---------------------------------------------------------------- patch tests (held-out fold)

@dataclass
class PatchCase:
    test: str  # "real_patch_centre", "real_patch_corner", "generated_patch_corner", "regenerated_corner"
    host: int  # index of the host image in the records
    box: tuple[int, int, int, int]
    crops: list[tuple[int, int, int, int]]  # the runtime's crop boxes on the composite
    patched_views: Encoded  # the composite as the runtime encodes it
    plain_views: Encoded  # the host as it is
    patched: tuple[np.ndarray, float] = (np.zeros(0), 0.0)  # (crop logits, global logit) by `scored_by`'s head
    plain: tuple[np.ndarray, float] = (np.zeros(0), 0.0)
    # the region head's crop logits (the map), empty where the map is the main head's crops
    patched_region: np.ndarray = field(default_factory=lambda: np.zeros(0))
    plain_region: np.ndarray = field(default_factory=lambda: np.zeros(0))


def scored_by(head, cases: list[PatchCase], region_head=None) -> list[PatchCase]:
    """The cases with their logits from `head` (and the map's from `region_head`, if any)."""
    out = [replace(c, patched=logits_of(head, c.patched_views), plain=logits_of(head, c.plain_views)) for c in cases]
    if region_head is None:
        return out
    return [replace(c, patched_region=region_head(c.patched_views.crops.astype(np.float64)),
                    plain_region=region_head(c.plain_views.crops.astype(np.float64))) for c in out]


def cached_views(cache: Path, key: str, encoder, prep, features: str, make: Callable[[], np.ndarray]) -> Encoded:
    """The views of the composite `make()` named by `key`, as the runtime encodes a whole image,
    cached on disk by key, grid and feature kind (built only when not cached)."""
    name = f"{key}#{grid_tag(prep)}{feature_tag(features)}"
    path = cache / f"case-{hashlib.sha256(name.encode()).hexdigest()[:32]}.npz"
    if not path.exists():
        _, _, crops, whole = encode_views(encoder, prep, features, make())
        assert whole is not None
        np.savez(path, crops=crops.astype(np.float16), whole=whole.astype(np.float16))
    saved = np.load(path)
    return Encoded(saved["crops"], saved["whole"])


def patch_cases(records: list[ImageRecord], rows: np.ndarray, y: np.ndarray, encoder, prep, features: str,
                per_test: int, seed: int, reconstruct: Callable[[np.ndarray], np.ndarray] | None,
                sizes: dict[int, tuple[int, int]], cache: Path) -> list[PatchCase]:
    """The patch tests on the images of `rows` (one held-out fold), encoded as the runtime
    encodes the whole image (cached on disk by host, test and seed); `scored_by` scores them."""
    rng = random.Random(seed)
    index = [int(i) for i in np.flatnonzero(rows)]
    rng.shuffle(index)
    generated = [i for i in index if y[i] == 1 and min(sizes[i]) >= MIN_GENERATED_SIDE][:per_test]
    reals = [i for i in index if y[i] == 0 and min(sizes[i]) >= PATCH]
    large = [i for i in reals if sizes[i][0] * sizes[i][1] >= MIN_REAL_PIXELS][:per_test]
    donors = [i for i in index if y[i] == 1 and min(sizes[i]) >= PATCH]
    if not donors or not reals:
        return []
    cache.mkdir(parents=True, exist_ok=True)

    def encoded(key: str, make: Callable[..., np.ndarray], *args) -> Encoded:
        return cached_views(cache, key, encoder, prep, features, lambda: make(*args))

    def patch_of(i: int) -> np.ndarray:
        return centre_crop(load_pixels(records[i]), PATCH)

    def name(i: int) -> str:
        return f"{records[i].path}#{records[i].tile}"

    def host(i: int) -> np.ndarray:
        return load_pixels(records[i])

    def pasted(i: int, donor: int, box: tuple[int, int, int, int]) -> np.ndarray:
        return paste(load_pixels(records[i]), patch_of(donor), box)

    def regenerated(i: int, box: tuple[int, int, int, int]) -> np.ndarray:
        assert reconstruct is not None
        return regenerate(load_pixels(records[i]), box, reconstruct)

    cases = []
    for n, i in enumerate(generated):
        h, w = sizes[i]
        plain = encoded(f"plain:{name(i)}", host, i)
        real = reals[n % len(reals)]
        for test, box in (("real_patch_centre", centre_box(h, w, PATCH)),
                          ("real_patch_corner", corner_box(h, w, PATCH, CORNERS[n % 4]))):
            views = encoded(f"{test}:{name(i)}:{name(real)}:{box}", pasted, i, real, box)
            cases.append(PatchCase(test, i, box, crop_boxes((h, w), prep), views, plain))
    for n, i in enumerate(large):
        h, w = sizes[i]
        plain = encoded(f"plain:{name(i)}", host, i)
        box = corner_box(h, w, PATCH, CORNERS[(n + seed) % 4])
        donor = donors[n % len(donors)]
        views = encoded(f"generated_patch_corner:{name(i)}:{name(donor)}:{box}", pasted, i, donor, box)
        cases.append(PatchCase("generated_patch_corner", i, box, crop_boxes((h, w), prep), views, plain))
        if reconstruct is not None:
            views = encoded(f"regenerated_corner:{name(i)}:{box}", regenerated, i, box)
            cases.append(PatchCase("regenerated_corner", i, box, crop_boxes((h, w), prep), views, plain))
    return cases


def patch_summary(cases: list[PatchCase], rule: str, temperature: float,
                  region_scaling: tuple[float, float] = (1.0, 0.0)) -> dict[str, Any]:
    """Per test: for real patches, the share of generated images at p >= 0.5 that stay there;
    for generated or regenerated regions, how often the most suspicious crop lies mostly
    (>= half its area) in the region, and the mean rise of p."""
    out: dict[str, Any] = {}
    by_test: dict[str, list[PatchCase]] = defaultdict(list)
    for case in cases:
        by_test[case.test].append(case)

    def p(scored: tuple[np.ndarray, float]) -> float:
        return float(1 / (1 + np.exp(-image_logit(rule, *scored) / temperature)))

    def regions(case: PatchCase, patched: bool) -> np.ndarray:
        """The report's `regions` (flattened): the region head's crops where there is one."""
        own = case.patched_region if patched else case.plain_region
        if len(own):
            return 1 / (1 + np.exp(-(own + region_scaling[1]) / region_scaling[0]))
        return 1 / (1 + np.exp(-(case.patched if patched else case.plain)[0] / temperature))

    def standout(cells: np.ndarray, crops: list) -> tuple[int, int, int, int] | None:
        """The crop box the report would name, or None."""
        found = standout_region([[float(v) for v in cells]])
        return None if found is None else crops[found[1]]

    for test, group in by_test.items():
        if test.startswith("real_patch"):
            flagged = [c for c in group if p(c.plain) >= 0.5]
            kept = sum(p(c.patched) >= 0.5 for c in flagged)
            out[test] = {"n": len(group), "flagged_before": len(flagged), "kept": int(kept),
                         "kept_share": round(kept / len(flagged), 3) if flagged else None}
        else:
            hits = sum(inside(c.crops[int(np.argmax(regions(c, True)))], c.box) >= 0.5 for c in group)
            rise = [p(c.patched) - p(c.plain) for c in group]
            named = [standout(regions(c, True), c.crops) for c in group]
            named_plain = [standout(regions(c, False), c.crops) for c in group]
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

@dataclass
class Material:
    """Everything the folds are fitted and scored on: the images encoded in every condition, their
    folds, the partial fakes (training) and the patch cases of every held-out fold (tests)."""

    records: list[ImageRecord]
    y: np.ndarray
    groups: list[str]
    fold: np.ndarray
    encoded: dict[str, list[Encoded]]
    tags: list[str]  # the conditions a head trains on
    partials: list[PartialFake]
    cases: list[PatchCase]
    encoder: Any
    sizes: dict[int, tuple[int, int]]  # each record's (height, width)
    cache: Path  # the feature cache of this backbone (its files, the composites')


def material(config, repo_root: Path, log, feature_cache: Path | None = None) -> Material:
    from ..cache import cache_root
    from ..models.clip_probe import ClipEncoder
    from .clip_features import split_items

    started = time.time()
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
    fold = np.array([fold_of(g, config.folds) for g in groups])
    sizes = {i: _size(r) for i, r in enumerate(records)}
    reconstruct = taef2_reconstructor(repo_root / config.taef2_weights if config.taef2_weights else None)
    partials: list[PartialFake] = []
    if config.partial_fakes:
        if reconstruct is None:
            raise ValueError("partial_fakes needs taef2_weights (the folder with taef2_encoder.pth)")
        partials = partial_fakes(records, y, fold, sizes, encoder, prep, config.features, reconstruct,
                                 config.partial_fakes, config.seed, cache, log, config.partial_web_views)
    cases: list[PatchCase] = []
    for k in range(config.folds) if config.patch_tests else ():
        cases += patch_cases(records, fold == k, y, encoder, prep, config.features, config.patch_tests,
                             config.seed + k, reconstruct, sizes, cache)
        log(f"patch cases of fold {k + 1}/{config.folds} ({time.time() - started:.0f} s)")
    tags = [t for t in transforms if t not in ("webp_q75", "avif_q60")]
    return Material(records, y, groups, fold, encoded, tags, partials, cases, encoder, sizes, cache)


@dataclass
class OutOfFold:
    """What the heads of the folds that did not hold an image say of it."""

    scored: dict[str, list[tuple[np.ndarray, float]]]  # condition -> per image (crop logits, global logit)
    cases: list[PatchCase]
    region_scored: dict[str, list[np.ndarray]] | None  # condition -> per image the region head's crop logits
    partial_logits: np.ndarray  # the held-out partial fakes' labelled crops: the region head's logits
    partial_labels: np.ndarray


def out_of_fold(config, m: Material, log, partial_weight: float | None = None, one_head: bool = False) -> OutOfFold:
    """Every image per condition and every patch case scored by the heads of the folds that did
    not hold it: the main head (images only) and, when the config has partial fakes, the region
    head (images and the partial fakes at `partial_weight` of its loss). `one_head`: the
    partial fakes go into the main head instead (training/experiments/partial_fakes.py)."""
    weight = config.partial_weight if partial_weight is None else partial_weight
    region = bool(m.partials) and weight > 0 and not one_head
    scored: dict[str, list[tuple[np.ndarray, float]]] = {c: [(np.zeros(0), 0.0)] * len(m.records)
                                                         for c in CONDITIONS}
    region_scored: dict[str, list[np.ndarray]] = {c: [np.zeros(0)] * len(m.records) for c in CONDITIONS}
    cases: list[PatchCase] = []
    partial_logits, partial_labels = [], []
    for k in range(config.folds):
        train_partials = [p for p in m.partials if m.fold[p.host] != k]
        images = np.flatnonzero(m.fold != k)
        head = fit_as_configured(config, m, images, train_partials if one_head else None, weight if one_head else 0.0)
        region_head = fit_as_configured(config, m, images, train_partials, weight) if region else None
        for c in CONDITIONS:
            for i in np.flatnonzero(m.fold == k):
                scored[c][i] = logits_of(head, m.encoded[c][i])
                if region_head is not None:
                    region_scored[c][i] = region_head(m.encoded[c][i].crops.astype(np.float64))
        cases += scored_by(head, [c for c in m.cases if m.fold[c.host] == k], region_head)
        for p in m.partials:
            if m.fold[p.host] == k and region_head is not None:
                partial_logits.append(region_head(p.encoded.crops.astype(np.float64))[p.labels >= 0])
                partial_labels.append(p.labels[p.labels >= 0])
        log(f"fold {k + 1}/{config.folds} scored")
    return OutOfFold(scored, cases, region_scored if region else None,
                     np.concatenate(partial_logits) if partial_logits else np.zeros(0),
                     np.concatenate(partial_labels) if partial_labels else np.zeros(0))


def region_scaling_of(oof: OutOfFold, y: np.ndarray) -> tuple[float, float]:
    """(temperature, bias) of the region head's crop probabilities, p = sigmoid((logit + bias) /
    temperature), from held-out crops only. The temperature: fitted on the partial fakes' crops
    (the region's generated, the rest of the photo real), both classes weighing alike. The
    bias: the largest (in steps of 0.1, at most 0) that lights the page's heatmap (a cell at
    p >= 0.5) on no more real images than the main head's crops did, in every condition: a
    head that has learnt a decoder's trace also sees it in what WebP and AVIF do to a real photo."""
    from .clip_features import fit_temperature

    assert oof.region_scored is not None
    temperature = fit_temperature(oof.partial_logits, oof.partial_labels.astype(float), balanced=True)
    real = np.flatnonzero(y == 0)
    bias = 0.0
    for c in CONDITIONS:
        lit_by_main = sum(bool((oof.scored[c][i][0] >= 0).any()) for i in real)
        tops = np.sort([float(oof.region_scored[c][i].max()) for i in real])[::-1]
        # at bias b an image is lit when its top crop logit >= -b: keep at most lit_by_main of them lit
        if lit_by_main < len(tops):
            bias = min(bias, float(np.floor(-tops[lit_by_main] * 10 - 1e-9) / 10))
    return temperature, bias


def maps_on_real_images(oof: OutOfFold, y: np.ndarray, temperature: float, region_scaling: tuple[float, float]
                        ) -> dict[str, dict[str, float]]:
    """Per condition, the share of real images with a cell of the map at p >= 0.5 (what the
    page's heatmap tints), with the main head's crops and with the region head's."""
    out: dict[str, dict[str, float]] = {}
    for c in CONDITIONS:
        real = np.flatnonzero(y == 0)
        main = np.mean([(oof.scored[c][i][0] / temperature >= 0).any() for i in real])
        row = {"main_head": round(float(main), 4)}
        if oof.region_scored is not None:
            own = np.mean([(oof.region_scored[c][i] + region_scaling[1] >= 0).any() for i in real])
            row["region_head"] = round(float(own), 4)
        out[c] = row
    return out


def train(config, out: Path, repo_root: Path, feature_cache: Path | None = None) -> Path:
    started = time.time()

    def log(message: str) -> None:
        print(f"synthcheck train: {message}", flush=True)

    m = material(config, repo_root, log, feature_cache)
    records, y, groups, fold = m.records, m.y, m.groups, m.fold
    oof = out_of_fold(config, m, log)
    scored, cases = oof.scored, oof.cases
    region_temperature, region_bias = 1.0, 0.0
    if oof.region_scored is not None:
        t, b = region_scaling_of(oof, y)
        region_temperature, region_bias = round(t, 4), round(b, 4)
    _keep_for_experiments(config.name, {"records": [str(r.path) for r in records], "y": y, "groups": groups,
                                         "fold": fold, "scored": scored, "region_scored": oof.region_scored,
                                         "cases": [(c.test, c.host, c.box, c.crops, c.patched, c.plain,
                                                    c.patched_region, c.plain_region) for c in cases]})
    comparison, chosen = compare_poolings(config.poolings, scored, y, groups, fold, cases,
                                          (region_temperature, region_bias))
    for rule, row in comparison.items():
        log(f"pooling {rule}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "patch_tests")
            + f"; patch tests {row['patch_tests']}")
    log(f"pooling chosen: {chosen}")
    logits = {c: pooled(chosen, scored[c]) for c in CONDITIONS}
    estimate = held_out_estimate(config, records, y, groups, fold, logits, repo_root)
    temperature = round(fit_temperature_on(logits, y, groups, np.ones(len(y), bool)), 4)
    estimate["poolings"] = comparison
    estimate["patch_tests"] = patch_summary(cases, chosen, temperature, (region_temperature, region_bias))
    estimate["maps_on_real_images"] = maps_on_real_images(oof, y, temperature, (region_temperature, region_bias))
    head = fit_as_configured(config, m, np.arange(len(records)))
    extra: dict[str, Any] = {}
    if oof.region_scored is not None:
        extra["region"] = fit_as_configured(config, m, np.arange(len(records)), m.partials, config.partial_weight)
    card = write_head_and_card(
        config, out, head, m.encoder, temperature, estimate, records, m.tags, repo_root, started, render_readme,
        metrics={"shipped": "clip probe on the whole-image grid", "temperature_fitted_on": "out-of-fold logits of "
                 "every image under the chosen pooling, all conditions pooled, classes and groups weighted equally",
                 "partial_fakes": {"per_fold": config.partial_fakes, "weight_in_region_head": config.partial_weight,
                                   "web_views": config.partial_web_views, "composites": len(m.partials),
                                   "region_scaling_fitted_on": "held-out crops: the partial fakes' and every "
                                   "image's in every condition, four sets weighing alike"}},
        extra_heads=extra, pooling=chosen, region_head=bool(extra), region_temperature=region_temperature,
        region_bias=region_bias)
    c = estimate["conditions"]
    log(f"wrote {out} (leave-source-out AUC " + " / ".join(f"{k} {v['auc']}" for k, v in c.items())
        + f"; pooling {chosen}; temperature {temperature}; region head {bool(extra)} at "
        + f"({region_temperature}, {region_bias}); "
        + f"{card.training['wall_clock_minutes']} min)")
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


def held_out_summary(m: Material, folds: int, fit_fold: Callable[[np.ndarray], Any], log) -> dict[str, Any]:
    """Out of fold with the maximum rule, for the experiments that change how a head is fitted or
    what it reads: each fold scored (and its patch cases) by `fit_fold(training images)`; AUC, real
    and generated images at `high` per condition and policy, the share of generated images above the
    real images' top 1% (the ranking at a fixed false-alarm rate), and the real-patch tests."""
    from .evaluate import real_at_level_high

    scored: dict[str, list[tuple[np.ndarray, float]]] = {c: [(np.zeros(0), 0.0)] * len(m.records) for c in CONDITIONS}
    cases = []
    for k in range(folds):
        started = time.time()
        head = fit_fold(np.flatnonzero(m.fold != k))
        for c in CONDITIONS:
            for i in np.flatnonzero(m.fold == k):
                scored[c][i] = logits_of(head, m.encoded[c][i])
        cases += scored_by(head, [c for c in m.cases if m.fold[c.host] == k])
        log(f"fold {k + 1}/{folds} ({time.time() - started:.0f} s)")
    logits = {c: pooled("max", scored[c]) for c in CONDITIONS}
    p = held_out_probabilities(logits, m.y, m.groups, m.fold)
    temperature = fit_temperature_on(logits, m.y, m.groups, np.ones(len(m.y), bool))
    real, generated = m.y == 0, m.y == 1

    def found_at(c: str, share: float) -> float:
        return round(float(np.mean(logits[c][generated] > np.quantile(logits[c][real], 1 - share))), 3)

    tests = patch_summary(cases, "max", temperature)
    return {**{f"auc_{c}": round(auc(m.y, logits[c]), 4) for c in CONDITIONS},
            **{f"high_{pol}_{c}": real_at_level_high(p[c][real], m.y[real], pol)
               for pol in ("default", "kyc") for c in CONDITIONS},
            **{f"generated_high_{pol}_{c}": real_at_level_high(p[c][generated], np.zeros(int(generated.sum())), pol)
               for pol in ("default", "kyc") for c in CONDITIONS},
            **{f"found_at_1pct_{c}": found_at(c, 0.01) for c in CONDITIONS},
            **{f"kept_{name}": t.get("kept_share") for name, t in tests.items() if name.startswith("real_patch")}}


def compare_poolings(rules: tuple[str, ...], scored: dict[str, list[tuple[np.ndarray, float]]], y: np.ndarray,
                     groups: list[str], fold: np.ndarray, cases: list[PatchCase],
                     region_scaling: tuple[float, float] = (1.0, 0.0)) -> tuple[dict[str, Any], str]:
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
                       "patch_tests": patch_summary(cases, rule, temperature, region_scaling)}

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
    config = card.training.get("config", {})
    pooled_weight = config.get("pooled_loss_weight", 0.0)
    lines = ["## Whole image: the grid, the pooling rule, the patch tests (issue 31)", "",
             f"- Crops of {p.crop_size}x{p.crop_size} at native resolution every {p.cell} px from edge to edge (a "
             f"corner is always a crop), at most {p.max_crops} per image, encoded with the global view in one call; "
             f"each crop's probability is a cell of the report's `regions`. Pooling: `{card.pooling}` "
             "(models/pooling.py).",
             *([f"- Loss: {1 - pooled_weight:.0%} per crop and global view, {pooled_weight:.0%} on each real image's "
                f"pooled logit (the crops' smooth maximum at tau {config.get('pooled_loss_tau')} averaged with the "
                "global view; grid_folds.pooled_term): a real photo's false alarm is its worst crop."]
               if pooled_weight else []),
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
    if card.region_head:
        maps = estimate.get("maps_on_real_images", {})
        partial = card.metrics.get("partial_fakes", {})
        lines += ["", f"**The region head** (`regions`; never the image's score): trained also on "
                  f"{partial.get('composites', '?')} composites ({partial.get('per_fold', '?')} real photos per fold, "
                  "each clean and through web views) with one region regenerated through TAEF2 or pasted from a "
                  "generated image (training/grid_folds.partial_fakes); "
                  f"p = sigmoid((logit + {card.region_bias}) / {card.region_temperature}). The patch tests' hit "
                  "rates and named regions below are the region head's. Real images with a cell of the map at "
                  "p >= 0.5 (held out), the main head's crops against the region head's:", ""]
        for condition, row in maps.items():
            lines.append(f"- {condition}: " + ", ".join(f"{k.replace('_', ' ')} {v:.1%}" for k, v in row.items()))
    shipped = estimate.get("patch_tests", {})
    if shipped:
        lines += ["", "The shipped rule at the shipped temperature, on the held-out folds' composites:", ""]
        for name, t in shipped.items():
            lines.append(f"- `{name}`: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    lines.append("")
    return text.replace("## License", "\n".join(lines) + "\n## License")
