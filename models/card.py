"""The model card: everything needed to use a set of weights, shipped beside them.

`card.json` is read by code (preprocessing, calibration, ensemble, checksum); the
README.md beside it is the same card for people. Preprocessing lives only here: the
classifier derives its crops and normalisation from the card, never from constants."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Preprocessing:
    crop_size: int = 160  # square crops taken at native resolution (no global resize)
    max_grid: int = 4  # at most max_grid x max_grid crops, spread over the whole image
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Member:
    """One scorer of the ensemble and its weight in the final logit."""

    name: str  # "supervised" (fine-tuned network) or "oneclass" (distance to real photos)
    weight: float
    bias: float = 0.0  # only the first member's bias is used (the ensemble's intercept)


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

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        raw = json.loads(Path(path).read_text())
        raw["preprocessing"] = Preprocessing(**{k: tuple(v) if isinstance(v, list) else v
                                                for k, v in raw["preprocessing"].items()})
        raw["members"] = tuple(Member(**m) for m in raw["members"])
        return cls(**raw)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")
