"""The model card: everything needed to use a set of weights, shipped beside them.

`card.json` is read by code (preprocessing, calibration, ensemble, checksum); the
README.md beside it is the same card for people. Preprocessing lives only here: the
classifier derives its crops and normalisation from the card, never from constants."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The architecture of a card whose one member is a head on the CLIP backbone
# (synthcheck/models/clip_probe.py): every shipped card's (models.MODEL_KINDS loads it).
CLIP_PROBE_ARCHITECTURE = "clip-vit-b16-probe"


@dataclass(frozen=True)
class Preprocessing:
    crop_size: int = 160  # square crops taken at native resolution (no global resize)
    max_grid: int = 4  # at most max_grid x max_grid crops, spread over the whole image
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # Where a lone row or column of crops sits on a larger image: "top-left" (every card
    # before this field) or "centre" (where a photo's subject usually is).
    anchor: str = "top-left"
    # Also score the global view (crops.global_view: the whole image shrunk so that its shorter
    # side is crop_size, its centre crop_size x crop_size): the image's logit is then the mean of
    # the crops' mean logit and the global view's. Cards before this field: crops only.
    global_view: bool = False
    # The crop grid by spacing (issue 31; 0 in cards before it, which use max_grid): an image
    # gets ceil(height / cell) x ceil(width / cell) crops spread from edge to edge, at most
    # max_crops of them (the longer side's count shrinks first), so that a corner is always
    # scored and the time a huge image takes stays bounded.
    cell: int = 0
    max_crops: int = 0
    # The crops and the global view go through the encoder in one call (issue 31). The int8
    # graph quantises its activations with one scale per call, so a crop's features depend on
    # what it is encoded with: a card says how its head was trained, and the runtime does the same.
    encode_together: bool = False


ANCHORS = ("top-left", "centre")


@dataclass(frozen=True)
class Member:
    """One scorer of the ensemble and its weight in the final logit."""

    name: str  # the member's key in the weights file (its tensors' prefix); unique in a card
    weight: float
    bias: float = 0.0  # only the first member's bias is used (the ensemble's intercept)
    # What the member is: "clip_probe" in every shipped card. The retired Lite0 cards
    # (training/experiments/retired/) say "supervised" or "oneclass", or leave it empty (the
    # name says it); the field stays so that those cards still read.
    kind: str = ""
    # What a retired Lite0 member's network read of the crops ("rgb" or "npr"); unused by a
    # CLIP head.
    input_filter: str = "rgb"
    # A "clip_probe" member (synthcheck/models/clip_probe.py): the pretrained backbone it reads
    # (backbones.py: name, variant, the converted graph's sha256) and which of its features.
    backbone: str = ""
    backbone_variant: str = ""
    backbone_sha256: str = ""
    features: str = ""

    @property
    def member_kind(self) -> str:
        return self.kind or self.name


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    architecture: str
    preprocessing: Preprocessing
    members: tuple[Member, ...]
    temperature: float  # applied to the ensemble logit (temperature scaling)
    threshold: float  # p_generated at or above which the classifier calls an image generated
    weights_file: str
    weights_sha256: str
    license: str = "Apache-2.0"
    training: dict[str, Any] = field(default_factory=dict)  # data manifests and hashes, recipe
    metrics: dict[str, Any] = field(default_factory=dict)  # validation results, comparison table
    # How the crops' logits and the global view's make the image's logit (models/pooling.py
    # POOLINGS); "mean" in every card before issue 31.
    pooling: str = "mean"
    # The region map's own head (issue 31): the weights file's "region" tensors score each crop
    # for the report's `regions` (p = sigmoid((logit + region_bias) / region_temperature), fitted on
    # held-out crops: training/grid_folds.region_scaling_of), trained also on real
    # photos with one region regenerated or pasted in (training/grid_folds.partial_fakes), so that
    # the map points at an edited region; the image's score stays the main head's. False in every
    # card before it: the main head's crop scores are the map.
    region_head: bool = False
    region_temperature: float = 1.0
    region_bias: float = 0.0

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        raw = json.loads(Path(path).read_text())
        # JSON has no tuples: mean and std come back as lists
        preprocessing: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                         for k, v in raw["preprocessing"].items()}
        raw["preprocessing"] = Preprocessing(**preprocessing)
        raw["members"] = tuple(Member(**m) for m in raw["members"])
        return cls(**raw)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")
