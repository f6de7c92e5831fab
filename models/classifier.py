"""Inference: several crops at native resolution, one batched forward pass, the
ensemble logit per crop, averaged and temperature-scaled into p_generated; the
per-crop scores form the region grid shown to analysts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..report import ClassifierResult
from ..wording import shown_probability
from .card import Member, ModelCard, Preprocessing
from .crops import crop_grid, prepare_crops  # noqa: F401 (re-exported: training and tests use them here)


def to_tensor(crops: list[np.ndarray], prep: Preprocessing) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    return (batch - mean) / std


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
