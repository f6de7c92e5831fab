"""What the CLIP trainers share (training/clip_probe.py trains on a source-held-out split,
training/source_folds.py by leave-source-out folds): the config, the split, the backbone's
features of every training image and its web views (cached), the logistic head and the
temperature fits."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.records import ImageRecord, corpus_root, load_manifest, load_pixels
from ..models.card import ANCHORS, ModelCard, Preprocessing
from ..models.clip_probe import (
    CLIP_MEAN,
    CLIP_STD,
    FEATURE_KINDS,
    ClipEncoder,
    ProbeHead,
    clip_batch,
    select,
)
from .metrics import launder


@dataclass(frozen=True)
class ClipTrainConfig:
    name: str
    version: str
    data: tuple[str, ...]  # manifest corpora (folders with manifest.csv)
    # Validation: records whose group starts with one of these (groups: "<source>:<generator or
    # camera make>", refined by `group_by_note` and `split_in_half`).
    validation_groups: tuple[str, ...]
    # generator -> regex on the manifest's note: its match becomes the group (e.g. GPT Image 2
    # outputs are edits of a few scenes: split by case, not by file).
    group_by_note: dict[str, str] = field(default_factory=dict)
    # sources with one group only (a face set, a receipt set): half their files (by hash) are
    # held out, the group becoming "<source>:a" (validation) / "<source>:b" (training).
    split_in_half: tuple[str, ...] = ()
    calibration_fraction: float = 0.15
    features: str = "cls"
    weight_decay: float = 0.01
    backbone: str = "clip-vit-b16"
    backbone_variant: str = "int8"
    crop_size: int = 224
    max_grid: int = 1
    crop_anchor: str = "top-left"  # where one crop sits on a larger image (card.ANCHORS)
    launder_scale: tuple[float, float] = (0.4, 0.6)  # each training image also enters laundered
    launder_quality: tuple[int, int] = (60, 85)
    # Codec-blind training (issue 27): each training image of both classes also enters this many
    # times more, each through one of the web's treatments (metrics.WEB_VIEWS: JPEG 4:2:0/4:4:4,
    # WebP, AVIF, HEIC, screenshot PNG, JPEG then WebP; half resized first), drawn per image.
    web_views: int = 0
    # Validation also scored as these codecs (name -> (PIL format, quality)), reported in the card.
    eval_codecs: dict[str, tuple[str, int]] = field(default_factory=dict)
    seed: int = 0
    out_dir: str = ""
    kind: str = "clip_probe"
    # Aligned fakes (synthcheck/datasets/aligned.py): method -> share of the training split's
    # real photos (artwork excluded) whose centre crop is remade by that generator stage, so
    # that a photo's content (a face, a receipt) never means "real" by itself.
    aligned_methods: dict[str, float] = field(default_factory=dict)
    taef2_weights: str | None = None  # folder with taef2_encoder.pth, relative to the repository root
    aligned_cache: str | None = None  # default: ~/.cache/synthcheck/aligned
    # The card's category table: name -> group patterns (exact, `source:` or `:maker`).
    report_categories: dict[str, list[str]] = field(default_factory=dict)
    # "held_out_sources": after training, compare the calibration split's temperature with
    # scalings fitted on the validation groups, cross-fitted (synthcheck/models/calibrate.py),
    # and keep the best; "" keeps the calibration split's temperature.
    calibration: str = ""
    # "leave_source_out" (models/source_folds.py): no split; every group held out once in
    # `folds` folds for the card's estimate and the temperature, then one head on every image.
    estimate: str = ""
    folds: int = 5
    cap_per_group: dict[str, int] = field(default_factory=dict)  # corpus -> at most N images per group
    # What the head reads (source_folds.VIEW_PREFIXES): "centre" (the native crops) and/or
    # "global" (the whole image shrunk); an image's logit is the mean over the views.
    views: tuple[str, ...] = ("centre",)
    # The whole-image grid (kind "clip_grid_probe", training/grid_folds.py; issue 31): crops every
    # `cell` px from edge to edge, at most `max_crops`, encoded with the global view in one call;
    # the pooling rules compared on held-out sources, the first that passes the patch test wins
    # (models/pooling.py); `patch_tests` composites per fold and test.
    cell: int = 0
    max_crops: int = 0
    poolings: tuple[str, ...] = ("mean",)
    patch_tests: int = 0
    # Aligned partial fakes in training (grid_folds.partial_fakes): per fold, this many real photos
    # with one crop's region regenerated through TAEF2 (and every second one also with a generated
    # patch pasted), their crops labelled by where they lie; together they weigh `partial_weight`
    # of the loss; each also enters through `partial_web_views` web treatments (as `web_views`).
    partial_fakes: int = 0
    partial_weight: float = 0.0
    partial_web_views: int = 0
    # A share of the loss on each real image's pooled logit as the runtime pools it (the crops'
    # smooth maximum at `pooled_loss_tau`, averaged with the global view; grid_folds.pooled_term):
    # a real photo's false alarm is its worst crop, which the per-crop loss weighs like any other.
    pooled_loss_weight: float = 0.0
    pooled_loss_tau: float = 0.5

    @classmethod
    def load(cls, path: str | Path) -> ClipTrainConfig:
        raw = json.loads(Path(path).read_text())
        for key in ("data", "validation_groups", "split_in_half", "launder_scale", "launder_quality", "views",
                    "poolings"):
            if key in raw:
                raw[key] = tuple(raw[key])
        raw["eval_codecs"] = {k: tuple(v) for k, v in (raw.get("eval_codecs") or {}).items()}
        unknown = set(raw) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config = cls(**raw)
        if config.crop_anchor not in ANCHORS:
            raise ValueError(f"{path}: crop_anchor must be one of {ANCHORS}")
        if config.features not in FEATURE_KINDS:
            raise ValueError(f"{path}: features must be one of {FEATURE_KINDS}")
        if config.views not in (("centre",), ("centre", "global")):  # the runtime always scores the crops
            raise ValueError(f"{path}: views must be [\"centre\"] or [\"centre\", \"global\"]")
        return config

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(crop_size=self.crop_size, max_grid=self.max_grid, mean=CLIP_MEAN, std=CLIP_STD,
                             anchor=self.crop_anchor, global_view="global" in self.views, cell=self.cell,
                             max_crops=self.max_crops, encode_together=self.kind == "clip_grid_probe")


def _fraction(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def split_items(config: ClipTrainConfig, repo_root: Path) -> dict[str, list[ImageRecord]]:
    """train / calibration / validation records, each record's `group` refined by the config
    (its source and generator rewritten so that `record.group` is the split's group)."""
    splits: dict[str, list[ImageRecord]] = {"train": [], "calibration": [], "validation": []}
    for corpus in config.data:
        root = corpus_root(corpus, repo_root)
        with (root / "manifest.csv").open(newline="") as handle:
            notes = {row["path"]: row.get("note") or "" for row in csv.DictReader(handle)}
        for record in load_manifest(root):
            group = record.group
            pattern = config.group_by_note.get(record.generator)
            if pattern and (match := re.search(pattern, notes.get(record.content_key, ""))):
                group = f"{record.generator}:{match.group(0)}"
            if record.source in config.split_in_half:
                group = f"{record.source}:{'a' if _fraction(record.content_key) < 0.5 else 'b'}"
            source, generator = group.split(":", 1)
            item = replace(record, source=source, generator=generator)
            if any(group == g or (g.endswith(":") and group.startswith(g)) for g in config.validation_groups):
                splits["validation"].append(item)
            elif _fraction(f"calibration:{record.content_key}:{record.tile}") < config.calibration_fraction:
                splits["calibration"].append(item)
            else:
                splits["train"].append(item)
    return splits


def validation_records(card: ModelCard, repo_root: Path | None = None) -> list[ImageRecord]:
    """The card's source-held-out validation split (for `synthcheck eval` and `calibrate`)."""
    raw = dict(card.training["config"])
    if raw.get("estimate") == "leave_source_out":
        raise ValueError(f"{card.name} has no held-out split: every source was held out once for the estimate in its "
                         "card (and the head then trained on all of them); give --manifest or --folder to score it "
                         "on other images")
    config = ClipTrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    return split_items(config, repo_root or Path.cwd())["validation"]


def aligned_fakes(config: ClipTrainConfig, train: list[ImageRecord], repo_root: Path) -> list[ImageRecord]:
    """The configured aligned fakes of the training split's real photos (built once, cached)."""
    from ..datasets.aligned import DEFAULT_CACHE, AlignedFakeBuilder

    weights = repo_root / config.taef2_weights if config.taef2_weights else None
    builder = AlignedFakeBuilder(Path(config.aligned_cache).expanduser() if config.aligned_cache else DEFAULT_CACHE,
                                 weights)
    photos = [r for r in train if r.label == 0 and r.source != "artwork"]
    fakes = []
    for method, share in config.aligned_methods.items():
        started = time.time()
        fakes += list(builder.build(photos, method, share))
        print(f"synthcheck train: aligned fakes {method}: {sum(f.generator == method for f in fakes)} "
              f"({time.time() - started:.0f} s)", flush=True)
    return fakes


def _crops_tag(prep: Preprocessing) -> str:
    """The part of a feature-cache key that says which crops were encoded."""
    return f"{prep.crop_size}x{prep.max_grid}" + ("" if prep.anchor == "top-left" else f"@{prep.anchor}")


def encode_items(items: list[ImageRecord], encoder: ClipEncoder, prep: Preprocessing, kind: str, laundering: str,
                 cache: Path, seed: int, config: ClipTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(clean, laundered) head inputs [n, D] per image (crop features averaged). `laundering`:
    "random" (training: a scale and quality drawn per image) or "eval" (0.5x, JPEG 75). Cached
    on disk by file, tile, crops and laundering, so reruns and other heads cost nothing."""
    cache.mkdir(parents=True, exist_ok=True)
    clean, laundered = [], []
    started = time.time()
    crops = _crops_tag(prep)
    for n, item in enumerate(items):
        key = hashlib.sha256(f"{item.path}#{item.tile}#{crops}#{laundering}#{seed}".encode()).hexdigest()[:32]

        def compute(item: ImageRecord = item, key: str = key) -> dict[str, np.ndarray]:
            rgb = load_pixels(item)
            rng = random.Random(key)
            scale, quality = ((rng.uniform(*config.launder_scale), rng.randint(*config.launder_quality))
                              if laundering == "random" else (0.5, 75))
            washed = _pooled_features(launder(rgb, scale, quality), encoder, prep)
            return {**_pooled_features(rgb, encoder, prep), "embed_l": washed["embed"], "cls_l": washed["cls"]}

        saved = _cached(cache / f"{key}.npz", compute)
        clean.append(_head_input(saved, kind))
        laundered.append(_head_input(saved, kind, "_l"))
        if n and n % 250 == 0:
            print(f"synthcheck train: encoded {n}/{len(items)} images ({time.time() - started:.0f} s)", flush=True)
    return np.stack(clean), np.stack(laundered)


def encode_view(items: list[ImageRecord], encoder: ClipEncoder, prep: Preprocessing, kind: str, cache: Path,
                tag: str, transform) -> np.ndarray:
    """Head inputs [n, D] of each image seen through `transform(rgb, key) -> rgb` (a web view
    or an evaluation codec), cached on disk by file, tile, crops and `tag`."""
    cache.mkdir(parents=True, exist_ok=True)
    crops = _crops_tag(prep)
    out, started = [], time.time()
    for n, item in enumerate(items):
        key = hashlib.sha256(f"{item.path}#{item.tile}#{crops}#view:{tag}".encode()).hexdigest()[:32]
        saved = _cached(cache / f"{key}.npz",
                        lambda item=item, key=key: _pooled_features(transform(load_pixels(item), key), encoder, prep))
        out.append(_head_input(saved, kind))
        if n and n % 250 == 0:
            print(f"synthcheck train: {tag}: encoded {n}/{len(items)} images ({time.time() - started:.0f} s)",
                  flush=True)
    return np.stack(out)


def _pooled_features(rgb: np.ndarray, encoder: ClipEncoder, prep: Preprocessing) -> dict[str, np.ndarray]:
    """The encoder's outputs for an image's crops, averaged over the crops."""
    features = encoder(clip_batch(rgb, prep)[2])
    return {"embed": features["embed"].mean(0), "cls": features["cls"].mean(0)}


def _cached(path: Path, compute) -> dict[str, np.ndarray]:
    """The arrays saved at `path`, or `compute()`'s, saved there first."""
    if path.exists():
        return dict(np.load(path))
    saved = compute()
    np.savez(path, **saved)
    return saved


def _head_input(saved: dict[str, np.ndarray], kind: str, suffix: str = "") -> np.ndarray:
    return select({"embed": saved["embed" + suffix][None], "cls": saved["cls" + suffix][None]}, kind)[0]


def web_view_transform(seed: int, view: int):
    """The training view number `view`: one web treatment drawn per image from its key."""
    from .metrics import web_view

    return lambda rgb, key: web_view(rgb, random.Random(f"{key}:{seed}:{view}"))[1]


def codec_transform(fmt: str, quality: int):
    from .metrics import encode_decode

    return lambda rgb, key: encode_decode(rgb, fmt, quality)


@dataclass(frozen=True)
class PooledTerm:
    """A share of a head's loss on images' pooled logits: (smooth maximum of an image's crop
    logits + its global view's logit) / 2, the smooth maximum tau * log(mean(exp(z / tau))),
    near the maximum the runtime pools by (models/pooling.py) and smooth enough for LBFGS."""

    share: float
    tau: float
    row_image: np.ndarray  # per row of the features: its image's index, -1 for a row of no image
    row_is_crop: np.ndarray  # per row: a crop (True) or the image's global view (False)
    image_label: np.ndarray  # per image
    image_weight: np.ndarray  # per image, summing to 1


def fit_head(x: np.ndarray, y: np.ndarray, groups: list[str], weight_decay: float,
             row_weights: np.ndarray | None = None, pooled: PooledTerm | None = None) -> ProbeHead:
    """L2 logistic regression on standardised features; classes weighted equally and, within
    a class, groups weighted equally (one big source must not decide the head), or by
    `row_weights` (summing to 1) where the caller weighs its rows itself; with `pooled`, that
    share of the loss is on images' pooled logits instead. float32 features are fitted in
    float32 (the grid's many crops), others in float64."""
    import torch

    dtype = torch.float32 if x.dtype == np.float32 else torch.float64
    mean, std = x.mean(0, dtype=np.float64), x.std(0, dtype=np.float64) + 1e-6
    xt = torch.from_numpy(((x - mean.astype(x.dtype)) / std.astype(x.dtype)).astype(x.dtype, copy=False)).to(dtype)
    yt = torch.tensor(y, dtype=dtype)
    from .calibrate import balanced_weights

    # each class sums to 1/2
    weights = row_weights if row_weights is not None else balanced_weights(y, groups) / 2
    wt = torch.tensor(weights, dtype=dtype)
    coef = torch.zeros(x.shape[1], dtype=dtype, requires_grad=True)
    bias = torch.zeros(1, dtype=dtype, requires_grad=True)
    optimiser = torch.optim.LBFGS([coef, bias], max_iter=500, line_search_fn="strong_wolfe")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    pooled_loss = _pooled_loss(pooled, dtype) if pooled is not None and pooled.share > 0 else None

    def closure():
        optimiser.zero_grad()
        z = xt @ coef + bias
        loss = (wt * bce(z, yt, reduction="none")).sum()
        if pooled_loss is not None:
            loss = (1 - pooled.share) * loss + pooled.share * pooled_loss(z)
        loss = loss + weight_decay * (coef ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return ProbeHead(coef.detach().double().numpy(), float(bias.detach()), mean, std)


def _pooled_loss(term: PooledTerm, dtype):
    """z (every row's logit) -> the weighted log-loss of the term's images' pooled logits."""
    import torch

    images = len(term.image_label)
    crop_rows = torch.from_numpy((term.row_image >= 0) & term.row_is_crop)
    global_rows = torch.from_numpy((term.row_image >= 0) & ~term.row_is_crop)
    crop_image = torch.from_numpy(term.row_image).long()[crop_rows]
    global_image = torch.from_numpy(term.row_image).long()[global_rows]
    counts = torch.zeros(images, dtype=dtype).index_add_(0, crop_image, torch.ones(len(crop_image), dtype=dtype))
    label = torch.tensor(term.image_label, dtype=dtype)
    weight = torch.tensor(term.image_weight, dtype=dtype)

    def loss(z):
        crops = z[crop_rows]
        # log-sum-exp per image, shifted by each image's largest crop logit (no overflow)
        top = torch.full((images,), -1e9, dtype=dtype).scatter_reduce(0, crop_image, crops.detach(), "amax")
        summed = torch.zeros(images, dtype=dtype).index_add(0, crop_image,
                                                            torch.exp((crops - top[crop_image]) / term.tau))
        smooth_max = top + term.tau * torch.log(summed / counts)
        whole = torch.zeros(images, dtype=dtype).index_add(0, global_image, z[global_rows])
        image_logit = (smooth_max + whole) / 2
        return (weight * torch.nn.functional.binary_cross_entropy_with_logits(image_logit, label,
                                                                               reduction="none")).sum()

    return loss


def fit_temperature(logits: np.ndarray, y: np.ndarray, balanced: bool = False) -> float:
    """The temperature of the grid 0.2..5 with the least log-loss (`balanced`: both classes weigh alike)."""
    weights = (np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum())) if balanced
               else np.full(len(y), 1 / len(y)))

    def loss(t: float) -> float:
        p = np.clip(1 / (1 + np.exp(-logits / t)), 1e-6, 1 - 1e-6)
        return float(-np.sum(weights * (y * np.log(p) + (1 - y) * np.log(1 - p))))

    return float(min(np.round(np.arange(0.2, 5.0001, 0.05), 2), key=loss))


def metrics(records: list[ImageRecord], p: np.ndarray) -> dict[str, Any]:
    """What `synthcheck eval` reports for these probabilities, with the per-group table."""
    from .evaluate import per_group_table, summary_metrics

    labels = np.array([r.label for r in records])
    return {**summary_metrics(labels, p, 0.5), "per_group": per_group_table(records, p, 0.5)}


def built_corpora(config: ClipTrainConfig) -> dict[str, Any]:
    """What the corpora built by `synthcheck data` hold: each archive, pinned."""
    if "cache:data/artwork" not in config.data:
        return {}
    from ..datasets.artwork import SOURCES

    return {"artwork_sources": [{"package": a.package, "version": a.version, "kind": a.kind, "cap": a.cap}
                                for a in SOURCES]}
