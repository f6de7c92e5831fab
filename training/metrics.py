"""Evaluation metrics in plain numpy (ties handled), and the laundering that social
platforms apply to uploads."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = labels == 1, labels == 0
    if not positives.any() or not negatives.any():
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average rank over each run of equal scores
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = positives.sum(), negatives.sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels)[np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")]
    if not labels.any():
        return float("nan")
    hits = np.cumsum(labels)
    precision = hits / np.arange(1, len(labels) + 1)
    return float((precision * labels).sum() / labels.sum())


def balanced_accuracy(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> float:
    labels, predicted = np.asarray(labels), np.asarray(probabilities) >= threshold
    rates = [np.mean(predicted[labels == c] == bool(c)) for c in (0, 1) if (labels == c).any()]
    return float(np.mean(rates))


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    labels, probabilities = np.asarray(labels, dtype=float), np.asarray(probabilities, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(probabilities[mask].mean() - labels[mask].mean())
    return float(error)


def launder(rgb: np.ndarray, scale: float = 0.5, quality: int = 75) -> np.ndarray:
    """What a social platform does to an upload: downscale, then re-encode as JPEG."""
    image = Image.fromarray(rgb)
    if scale != 1.0:
        image = _scaled(image, scale, Image.BICUBIC)
    return np.asarray(_roundtrip(image, "JPEG", quality=quality))


def encode_decode(rgb: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    """The pixels after one save as `fmt` (a PIL format: JPEG, WEBP, AVIF, HEIF) at `quality`."""
    return np.asarray(_roundtrip(Image.fromarray(rgb), fmt, quality=quality))


def centre_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    """The centre side x side of an image (all of a side that is shorter)."""
    h, w = rgb.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(rgb[y:y + side, x:x + side])


def _scaled(image: Image.Image, scale: float, resample) -> Image.Image:
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)


def _roundtrip(image: Image.Image, fmt: str, **save) -> Image.Image:
    if fmt == "HEIF":  # pillow-heif's plugin, registered on first use
        import pillow_heif

        pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _maybe_resize(image: Image.Image, rng) -> Image.Image:
    """Half the time, a platform's resize first (0.5-0.9x, bicubic or Lanczos)."""
    if rng.random() < 0.5:
        return image
    return _scaled(image, rng.uniform(0.5, 0.9), rng.choice((Image.BICUBIC, Image.LANCZOS)))


# What the web does to an image, for codec-blind training (issue 27): every training image
# of either class is also seen through one of these, drawn per image, so that no container,
# quality or chroma subsampling belongs to one class. Each takes a PIL image and a seeded
# random.Random and returns the decoded RGB image.
WEB_VIEWS = {
    "jpeg": lambda im, rng: _roundtrip(_maybe_resize(im, rng), "JPEG", quality=rng.randint(50, 95),
                                       subsampling=rng.choice((0, 2))),  # 4:4:4 or 4:2:0
    "webp": lambda im, rng: _roundtrip(_maybe_resize(im, rng), "WEBP", quality=rng.randint(40, 90)),
    "avif": lambda im, rng: _roundtrip(_maybe_resize(im, rng), "AVIF", quality=rng.randint(40, 80)),
    "heic": lambda im, rng: _roundtrip(_maybe_resize(im, rng), "HEIF", quality=rng.randint(50, 90)),
    # a screenshot: a resized copy saved losslessly
    "screenshot": lambda im, rng: _roundtrip(_scaled(im, rng.uniform(0.5, 0.9), Image.BILINEAR), "PNG"),
    # a JPEG re-shared through a platform that serves WebP
    "jpeg+webp": lambda im, rng: _roundtrip(_roundtrip(_maybe_resize(im, rng), "JPEG", quality=rng.randint(70, 95)),
                                            "WEBP", quality=rng.randint(50, 85)),
}


def web_view(rgb: np.ndarray, rng, kinds: tuple[str, ...] = tuple(WEB_VIEWS)) -> tuple[str, np.ndarray]:
    """(the view's name, its pixels): one of `kinds`, drawn with `rng`."""
    kind = rng.choice(kinds)
    return kind, np.asarray(WEB_VIEWS[kind](Image.fromarray(rgb), rng))
