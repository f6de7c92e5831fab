"""Inference: several crops at native resolution, one batched forward pass, the
ensemble logit per crop, averaged and temperature-scaled into p_generated; the
per-crop scores form the region grid shown to analysts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..report import ClassifierResult
from ..wording import shown_probability
from .card import Member, ModelCard, Preprocessing


def crop_grid(height: int, width: int, prep: Preprocessing) -> tuple[int, int, list[tuple[int, int]]]:
    """(rows, cols, top-left corners) of crops spread evenly over the whole image."""
    size = prep.crop_size
    rows = min(prep.max_grid, max(1, math.ceil(height / size)))
    cols = min(prep.max_grid, max(1, math.ceil(width / size)))

    def starts(extent: int, n: int) -> list[int]:
        if n == 1 and prep.anchor == "centre":
            return [max(0, extent - size) // 2]
        return [int(v) for v in np.linspace(0, max(0, extent - size), n).round().astype(int)]

    return rows, cols, [(y, x) for y in starts(height, rows) for x in starts(width, cols)]


def to_tensor(crops: list[np.ndarray], prep: Preprocessing) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    return (batch - mean) / std


def prepare_crops(rgb: np.ndarray, prep: Preprocessing) -> tuple[int, int, list[np.ndarray]]:
    """Crops of an RGB uint8 image; an image smaller than a crop is padded by reflection
    (never resized: resampling would erase the traces the network looks for)."""
    size = prep.crop_size
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect"
                     if min(h, w) > 1 else "edge")
        h, w = rgb.shape[:2]
    rows, cols, corners = crop_grid(h, w, prep)
    return rows, cols, [rgb[y : y + size, x : x + size] for y, x in corners]


class OneClassScorer(nn.Module):
    """Squared Mahalanobis distance of frozen ImageNet features to those of real photos
    (fitted on real photos only: this member needs no generated training data)."""

    def __init__(self, features: nn.Module, mean: torch.Tensor, precision: torch.Tensor):
        super().__init__()
        self.features = features
        self.register_buffer("mean", mean)
        self.register_buffer("precision", precision)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        diff = self.features(batch) - self.mean
        distance = torch.einsum("ni,ij,nj->n", diff, self.precision, diff)
        return torch.log1p(distance)


def ensemble_logit(members: tuple[Member, ...], scores: Mapping[str, Any]) -> Any:
    """The ensemble's logit from each member's scores (tensors or arrays, one per crop or per
    image): the first member's bias (the intercept) plus each member's weighted score."""
    logit = members[0].bias
    for member in members:
        logit = logit + member.weight * scores[member.name]
    return logit


@dataclass
class Classifier:
    card: ModelCard
    members: dict[str, nn.Module]  # name -> module mapping a normalised batch to one score per crop

    @torch.no_grad()
    def crop_logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Ensemble logit of each crop (before temperature)."""
        return ensemble_logit(self.card.members, {m.name: self.members[m.name](batch).reshape(-1).float()
                                                  for m in self.card.members})

    def mean_logit(self, rgb: np.ndarray) -> float:
        """The image's ensemble logit before the temperature (what calibration scales)."""
        prep = self.card.preprocessing
        return float(self.crop_logits(to_tensor(prepare_crops(rgb, prep)[2], prep)).mean())

    def predict(self, rgb: np.ndarray) -> ClassifierResult:
        prep = self.card.preprocessing
        rows, cols, crops = prepare_crops(rgb, prep)
        logits = self.crop_logits(to_tensor(crops, prep)) / self.card.temperature
        p = float(torch.sigmoid(logits.mean()))
        grid = torch.sigmoid(logits).reshape(rows, cols)
        return ClassifierResult(model=self.card.name, version=self.card.version, p_generated=shown_probability(p),
                                regions=[[round(float(v), 3) for v in row] for row in grid])
