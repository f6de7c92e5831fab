"""The CLIP member at run time: the frozen image tower of OpenAI CLIP ViT-B/16 (`synthcheck
setup`, backbones.py) read through ONNX Runtime, and a logistic head on the CLS token of each
of its 12 blocks (after RINE, Koutlis & Papadopoulos, ECCV 2024: intermediate blocks keep the
low-level traces the final embedding discards). training/clip_probe.py trains the head.

    load_classifier("synthcheck-clip-v6")             # ClipProbeClassifier (predict, mean_logit)

Crops are 224x224 at native resolution (padded by reflection when smaller, never
resized), a grid of them spread over the image from edge to edge (models/crops.py); each
crop gets a logit, and a card with `global_view` also scores the whole image shrunk
(crops.global_view); the card's pooling rule makes the image's logit of them
(models/pooling.py), and the crops' own probabilities are the report's `regions` (scored by the
card's region head when it has one: trained also on real photos with an edited region). The
head's weights (a few thousand floats) ship under models/<name>/; the backbone is named in the card by its sha256."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..report import ClassifierResult
from ..wording import shown_probability
from .backbones import BACKBONES, EXTRA_OUTPUTS, prepared_file
from .card import CLIP_PROBE_ARCHITECTURE, Member, ModelCard, Preprocessing
from .crops import global_view, prepare_crops
from .pooling import image_logit

ARCHITECTURE = CLIP_PROBE_ARCHITECTURE
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BLOCKS = 12
REGION_PREFIX = "region"  # the region head's tensors in the weights file (card.region_head)
# What a head can read of a crop (a card's `features` joins part names with "+", in this order):
# the projected embedding, each block's CLS token, and each block's patch tokens averaged and their
# spread (issue 31: what the whole grid of tokens says about the crop's texture, not only its summary
# token; the residual streams are graph outputs already, so these cost no extra backbone pass).
FEATURE_PARTS: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {
    "embed": lambda out: out["embed"],  # [n, 512]
    "cls": lambda out: out["cls"],  # [n, 12, 768]
    "patch_mean": lambda out: np.stack([s[:, 1:, :].mean(1) for s in out["states"]], axis=1),
    "patch_std": lambda out: np.stack([s[:, 1:, :].std(1) for s in out["states"]], axis=1),
}
FEATURE_KINDS = ("embed", "cls", "embed+cls", "cls+patch_mean", "cls+patch_mean+patch_std")


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
        """Per crop: `embed` [n, 512], `cls` [n, 12, 768] and `states`, every block's residual
        stream [n, 197, 768] (FEATURE_PARTS reads the patch tokens there, only when a head needs them)."""
        out = self.session.run(self.outputs, {"pixel_values": batch.astype(np.float32)})
        return {"embed": out[0], "cls": np.stack([o[:, 0, :] for o in out[1:]], axis=1), "states": out[1:]}


def select(features: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """The head's input [n, D] from the encoder's outputs: the kind's parts, flattened, in
    FEATURE_PARTS order."""
    wanted = kind.split("+")
    parts = [part(features) for name, part in FEATURE_PARTS.items() if name in wanted]
    return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)


def clip_batch(rgb: np.ndarray, prep: Preprocessing) -> tuple[int, int, np.ndarray]:
    """(rows, cols, the crops as the encoder's input)."""
    rows, cols, crops = prepare_crops(rgb, prep)
    return rows, cols, _normalised(crops, prep)


def global_batch(rgb: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """The global view as the encoder's input (one image)."""
    # one centre crop of the shrunk image, whatever the card's grid (a panorama's shrunk view is wider
    # than a cell: with the grid's settings it would be cut in two)
    _, _, crops = prepare_crops(global_view(rgb, prep.crop_size),
                                replace(prep, max_grid=1, anchor="centre", cell=0, max_crops=0))
    return _normalised(crops, prep)


def _normalised(crops: list[np.ndarray], prep: Preprocessing) -> np.ndarray:
    batch = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean = np.array(prep.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.array(prep.std, np.float32).reshape(1, 3, 1, 1)
    return (batch - mean) / std


def encode_views(encoder: ClipEncoder, prep: Preprocessing, features: str, rgb: np.ndarray,
                 whole: np.ndarray | None = None) -> tuple[int, int, np.ndarray, np.ndarray | None]:
    """(rows, cols, the head's input per crop [n, D], the global view's [D] or None): what a
    head reads of an image, encoded as its card says. Training encodes through this same
    function, so that both see the same int8 quantisation per call; it may pass the global
    view's image as `whole` (the image as served) when the crops come from a part of it."""
    rows, cols, batch = clip_batch(rgb, prep)
    if not prep.global_view:
        return rows, cols, select(encoder(batch), features), None
    shrunk = global_batch(rgb if whole is None else whole, prep)
    if len(batch) == 1 and np.array_equal(batch, shrunk):
        # an image of exactly one crop's size is its own global view (the faces check's background
        # windows, a 224x224 upload): one pass, not two; the same features either way, the int8
        # quantisation's range being the same over [x] as over [x, x]
        once = select(encoder(batch), features)
        return rows, cols, once, once[0]
    if prep.encode_together:
        both = select(encoder(np.concatenate([batch, shrunk])), features)
        return rows, cols, both[:-1], both[-1]
    # cards before issue 31: the views in separate calls, as they were trained
    return rows, cols, select(encoder(batch), features), select(encoder(shrunk), features)[0]


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
    """The shipped classifier: predict (the report's classifier result), mean_logit (the
    image's logit before the temperature, for calibration and evaluation) and its card."""

    card: ModelCard
    encoder: ClipEncoder
    head: ProbeHead
    region_head: ProbeHead | None = None  # the card's region head (card.region_head), or None

    @property
    def member(self) -> Member:
        return self.card.members[0]

    def encode(self, rgb: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray | None]:
        """(rows, cols, the head's input per crop [n, D], the global view's [D] or None)."""
        return encode_views(self.encoder, self.card.preprocessing, self.member.features, rgb)

    def view_logits(self, rgb: np.ndarray) -> tuple[int, int, np.ndarray, float]:
        """(rows, cols, each crop's logit, the image's logit): the crops' logits and the global
        view's, pooled by the card's rule (models/pooling.py)."""
        return self.encoded_logits(*self.encode(rgb))

    def encoded_logits(self, rows: int, cols: int, crops: np.ndarray,
                       whole: np.ndarray | None) -> tuple[int, int, np.ndarray, float]:
        # member.bias: the shift a held-out calibration may add (training/calibrate.py); 0 in every
        # shipped card
        crop_logits = self.head(crops) + self.member.bias
        whole_logit = None if whole is None else float(self.head(whole[None])[0]) + self.member.bias
        return rows, cols, crop_logits, image_logit(self.card.pooling, crop_logits, whole_logit)

    def mean_logit(self, rgb: np.ndarray) -> float:
        return self.view_logits(rgb)[3]

    def predict(self, rgb: np.ndarray) -> ClassifierResult:
        return self.predict_encoded(*self.encode(rgb))

    def predict_encoded(self, rows: int, cols: int, crops: np.ndarray, whole: np.ndarray | None) -> ClassifierResult:
        """`predict` of features already encoded (`encode`): a second head on the same window
        (the faces check's person gate) then costs no second encoder call."""
        rows, cols, crop_logits, image = self.encoded_logits(rows, cols, crops, whole)
        p = float(1 / (1 + np.exp(-image / self.card.temperature)))
        if self.region_head is not None:
            # the map's own head: it has seen edited regions, the image's head has not (card.region_head)
            grid = 1 / (1 + np.exp(-(self.region_head(crops) + self.card.region_bias) / self.card.region_temperature))
        else:
            grid = 1 / (1 + np.exp(-crop_logits / self.card.temperature))
        grid = grid.reshape(rows, cols)
        return ClassifierResult(model=self.card.name, version=self.card.version, p_generated=shown_probability(p),
                                regions=[[round(float(v), 3) for v in row] for row in grid])


def load_clip_probe(card: ModelCard, weights: Path, threads: int | None = None) -> ClipProbeClassifier:
    from safetensors.numpy import load_file

    member = card.members[0]
    if member.member_kind != "clip_probe" or member.backbone not in BACKBONES:
        raise ModelError(f"model card {card.name}: a {ARCHITECTURE} card needs one clip_probe member with a known "
                         f"backbone (got {member.member_kind!r}, {member.backbone!r})")
    if threads is None:
        from .threads import inference_threads

        threads = inference_threads()  # 1 in a worker process (scan._init_worker)
    tensors = load_file(str(weights))
    if card.region_head and f"{REGION_PREFIX}.coef" not in tensors:
        raise ModelError(f"model card {card.name} names a region head but {weights.name} has no region tensors")
    region = ProbeHead.from_tensors(tensors, REGION_PREFIX) if card.region_head else None
    encoder = ClipEncoder(member.backbone, member.backbone_variant, threads, member.backbone_sha256)
    return ClipProbeClassifier(card, encoder, ProbeHead.from_tensors(tensors, member.name), region)
