"""Calibration on held-out sources, with cross-fitting.

The temperature fitted at training time comes from the calibration split: new files from
the training sources. On cameras and generators the network never saw it may be
overconfident (a real photo from an unseen phone at p = 0.99 reaches level `high` alone).
This module measures whether a scaling fitted on unseen sources does better: it is fitted
on the source-held-out validation split, clean and laundered copies pooled, each class
weighing the same and each group (camera make, generator) the same within its class.

Fitting on the split that also measures would flatter the measurement, so a held-out
scaling's metrics are cross-fitted: every group's probabilities come from a scaling fitted
on the other groups only (leave one group out). The scaling with the lowest such
balanced log-loss is kept (the calibration split's own temperature included, which never
saw the validation sources either; a scaling with more fitted parameters must win by a
margin), then fitted on all groups. `synthcheck calibrate`
applies this to a trained model's card; `synthcheck train` does it when the config says
`"calibration": "held_out_sources"`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..datasets import ImageRecord
from ..models.card import ModelCard
from ..models.clip_probe import ClipProbeClassifier
from .evaluate import evaluation_pixels, per_group_table, summary_metrics


@dataclass(frozen=True)
class Scaling:
    """p = sigmoid((z + shift) / temperature) for the ensemble logit z (mean over crops)."""

    temperature: float
    shift: float = 0.0

    def apply(self, z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.asarray(z, dtype=float) + self.shift) / self.temperature))


def balanced_weights(labels: np.ndarray, groups: list[str]) -> np.ndarray:
    """Each class sums to 1; within a class every group weighs the same."""
    weights = np.zeros(len(labels))
    for label in (0, 1):
        in_class = [g for g, y in zip(groups, labels) if y == label]
        for group in set(in_class):
            mask = np.array([g == group and y == label for g, y in zip(groups, labels)])
            weights[mask] = 1.0 / (len(set(in_class)) * mask.sum())
    return weights


def fit_scaling(z: np.ndarray, labels: np.ndarray, groups: list[str], with_shift: bool) -> Scaling:
    """The scaling minimising the balanced log-loss (a 1/T, and optionally a shift)."""
    x = torch.tensor(np.asarray(z, dtype=float))
    y = torch.tensor(np.asarray(labels, dtype=float))
    w = torch.tensor(balanced_weights(np.asarray(labels), groups))
    inverse_t = torch.ones(1, dtype=torch.float64, requires_grad=True)
    intercept = torch.zeros(1, dtype=torch.float64, requires_grad=with_shift)
    params = [inverse_t, intercept] if with_shift else [inverse_t]
    optimizer = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (w * torch.nn.functional.binary_cross_entropy_with_logits(
            inverse_t * x + intercept, y, reduction="none")).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    a, c = float(inverse_t.detach()), float(intercept.detach())
    if a <= 0:  # the logit ranks the other way round here: no scaling can make it informative
        raise ValueError("the classifier's scores are anti-correlated with the labels on the fitting groups")
    return Scaling(temperature=1 / a, shift=c / a)


def cross_fitted(z: np.ndarray, labels: np.ndarray, groups: list[str], with_shift: bool) -> np.ndarray:
    """Leave-one-group-out probabilities: each group scaled by a fit on all other groups."""
    for label in (0, 1):
        if len({g for g, y in zip(groups, labels) if y == label}) < 2:
            raise ValueError("calibration on held-out sources needs at least two validation groups of each "
                             "class (each group is scaled by a fit on the others)")
    p = np.empty(len(z))
    for group in sorted(set(groups)):
        held_out = np.array([g == group for g in groups])
        rest = ~held_out
        scaling = fit_scaling(z[rest], labels[rest], [g for g, r in zip(groups, rest) if r], with_shift)
        p[held_out] = scaling.apply(z[held_out])
    return p


def balanced_log_loss(labels: np.ndarray, p: np.ndarray, groups: list[str]) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    losses = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return float((balanced_weights(labels, groups) * losses).sum() / 2)


def mean_logits(classifier: ClipProbeClassifier, records: list[ImageRecord], laundered: bool) -> np.ndarray:
    """The ensemble logit of each image before any temperature (what the scaling acts on)."""
    return np.array([classifier.mean_logit(evaluation_pixels(r, laundered)) for r in records])


CURRENT = "current (calibration split)"
HELD_OUT = {"held-out temperature": False, "held-out temperature and shift": True}  # name -> with_shift


def compare_scalings(clean: np.ndarray, laundered: np.ndarray, labels: np.ndarray, groups: list[str],
                     current: Scaling, threshold: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics of the current scaling and the cross-fitted metrics of each held-out one on the
    validation split, clean and laundered (an image's two copies always share a fold), and the
    probabilities behind them (clean first, then laundered). The current scaling was fitted on
    the calibration split, which shares no source with the validation split: its numbers are
    as honest as the cross-fitted ones, so the three compare fairly."""
    pooled_z = np.concatenate([clean, laundered])
    pooled_y = np.concatenate([labels, labels])
    pooled_groups = groups + groups
    n = len(clean)
    probabilities = {CURRENT: current.apply(pooled_z)}
    for name, with_shift in HELD_OUT.items():
        probabilities[name] = cross_fitted(pooled_z, pooled_y, pooled_groups, with_shift)
    results = {name: {"clean": summary_metrics(labels, p[:n], threshold),
                      "laundered": summary_metrics(labels, p[n:], threshold),
                      "balanced_log_loss": round(balanced_log_loss(pooled_y, p, pooled_groups), 4)}
               for name, p in probabilities.items()}
    return results, probabilities


# Parameters each scaling fits on the validation groups, and what each extra one must buy.
# With 19 groups, log-loss differences of a few thousandths are noise: v7's shift won by 0.001
# and doubled the ECE (0.09 -> 0.16), so a richer scaling has to win by a margin.
FITTED_PARAMETERS = {CURRENT: 0, "held-out temperature": 1, "held-out temperature and shift": 2}
MIN_LOG_LOSS_GAIN = 0.005


def choose_scaling(comparison: dict[str, Any]) -> str:
    """The scaling with the lowest balanced log-loss on sources it was not fitted on (a proper
    score: it rewards honest probabilities, not just a good threshold), where one with more
    fitted parameters must beat the simpler one chosen so far by MIN_LOG_LOSS_GAIN."""
    chosen = CURRENT
    for name in sorted(comparison, key=FITTED_PARAMETERS.__getitem__)[1:]:
        if comparison[name]["balanced_log_loss"] <= comparison[chosen]["balanced_log_loss"] - MIN_LOG_LOSS_GAIN:
            chosen = name
    return chosen


def recalibrated_card(card: ModelCard, scaling: Scaling, comparison: dict[str, Any], chosen: str,
                      per_group: dict[str, Any], version: str | None = None) -> ModelCard:
    """The card with the chosen scaling: a shift becomes the ensemble's intercept (it is added
    to every crop's logit, so to their mean too), and the validation metrics become those of
    the chosen scaling on sources it never saw (cross-fitted for a held-out scaling)."""
    first = card.members[0]
    members = (replace(first, bias=round(first.bias + scaling.shift, 5)),) + card.members[1:]
    metrics = dict(card.metrics)
    metrics["calibration"] = {
        "method": "scalings compared by balanced log-loss on the source-held-out validation split (clean and "
                  "laundered pooled, classes and groups weighted equally); held-out scalings are cross-fitted "
                  "by leaving one group out, and one that wins is then fitted on all groups",
        "chosen": chosen, "temperature": round(scaling.temperature, 5), "shift": round(scaling.shift, 5),
        "calibration_split_temperature": card.temperature,
        "comparison": comparison}
    metrics["validation"] = comparison[chosen]["clean"]
    metrics["validation_laundered"] = comparison[chosen]["laundered"]
    metrics["validation_per_group"] = per_group
    return replace(card, version=version or card.version, members=members,
                   temperature=round(scaling.temperature, 5), metrics=metrics)


def calibrate(classifier: ClipProbeClassifier, validation: list[ImageRecord], version: str | None = None,
              log=print, logits: tuple[np.ndarray, np.ndarray] | None = None) -> ModelCard:
    """Score the validation split (clean and laundered), compare the scalings on sources they
    were not fitted on, and return the card with the best one (fitted on all validation groups
    if it is a held-out one; unchanged if the current one wins). `logits`: the split's
    (clean, laundered) ensemble logits when the caller has already scored it."""
    card = classifier.card
    if "calibration" in card.metrics:  # its scaling may have been fitted on this very split
        raise ValueError(f"{card.name} {card.version} was already calibrated on its validation split")
    labels = np.array([r.label for r in validation])
    groups = [r.group for r in validation]
    if logits is None:
        log(f"scoring {len(validation)} validation images, clean and laundered")
        logits = mean_logits(classifier, validation, False), mean_logits(classifier, validation, True)
    clean, laundered = logits
    current = Scaling(card.temperature)
    comparison, probabilities = compare_scalings(clean, laundered, labels, groups, current, card.threshold)
    for name, r in comparison.items():
        log(f"{name}: clean {r['clean']} / laundered {r['laundered']} / balanced log-loss {r['balanced_log_loss']}")
    chosen = choose_scaling(comparison)
    scaling = current if chosen == CURRENT else fit_scaling(
        np.concatenate([clean, laundered]), np.concatenate([labels, labels]), groups + groups, HELD_OUT[chosen])
    per_group = per_group_table(validation, probabilities[chosen][: len(validation)], card.threshold)
    log(f"chosen: {chosen}, temperature {scaling.temperature:.4f}, shift {scaling.shift:.4f}")
    return recalibrated_card(card, scaling, comparison, chosen, per_group, version)
