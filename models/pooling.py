"""How an image's logit is made from its crops' logits and the global view's (a card's
`pooling`). The rule decides what a patch can do: with the mean, a real patch over the centre
crop pulls a generated image down and a generated patch in one corner of a real photo is
diluted by the other crops; with the maximum, one suspicious crop decides, and so does one
false alarm. issue 31 compared them on held-out sources (training/experiments/README.md);
each card names its own, and the table is the one place a rule is defined.

    image_logit("max", crops=np.array([-3.0, 2.0]), global_logit=1.0)   # -> 1.5

Every rule averages its pooled crop logit with the global view's when there is one (the
whole image shrunk: what a codec barely changes, issue 27)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _mean(crops: np.ndarray) -> float:
    return float(crops.mean())


def _max(crops: np.ndarray) -> float:
    return float(crops.max())


def _upper_quartile(crops: np.ndarray) -> float:
    return float(np.quantile(crops, 0.75))


def _soft_max(crops: np.ndarray) -> float:
    """log-mean-exp: the mean for crops that agree, near the maximum when one stands out."""
    top = crops.max()
    return float(top + np.log(np.mean(np.exp(crops - top))))


# name -> the crops' pooled logit (the one table of rules; a card's `pooling` names a row)
POOLINGS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": _mean,  # every card before issue 31
    "max": _max,
    "upper_quartile": _upper_quartile,
    "soft_max": _soft_max,
}


def image_logit(rule: str, crops: np.ndarray, global_logit: float | None = None) -> float:
    """The image's logit by `rule`: the crops pooled, averaged with the global view's logit."""
    pooled = POOLINGS[rule](np.asarray(crops, float))
    return pooled if global_logit is None else (pooled + float(global_logit)) / 2
