"""Aligned partial fakes (issue 31): an image in which one known region is of the other
class, to measure (and train) whether the classifier's most suspicious crop finds it.

- `paste`: a region of one image laid into another with feathered edges (a generated patch
  in a real photo, or a real patch over a generated image);
- `regenerate`: a region of a real photo replaced by its own reconstruction through a
  generator's decoder (TAEF2, the FLUX.2 autoencoder: datasets/taef2.py): the same content,
  no paste line, only the decoder's trace.

numpy only, apart from the decoder the caller passes; boxes are (x, y, width, height)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
FEATHER = 12  # px over which a pasted patch fades into its host


def corner_box(height: int, width: int, size: int, corner: str) -> tuple[int, int, int, int]:
    """A size x size box in one corner of a height x width image."""
    x = 0 if corner.endswith("left") else width - size
    y = 0 if corner.startswith("top") else height - size
    return x, y, size, size


def centre_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    return (width - size) // 2, (height - size) // 2, size, size


def feather_mask(height: int, width: int, feather: int = FEATHER) -> np.ndarray:
    """[h, w] weights: 1 inside, a linear ramp to 0 over `feather` px at the edges."""
    if feather <= 0:
        return np.ones((height, width))
    ramp_y = np.minimum(np.arange(height) + 1, np.arange(height)[::-1] + 1) / feather
    ramp_x = np.minimum(np.arange(width) + 1, np.arange(width)[::-1] + 1) / feather
    return np.clip(np.minimum.outer(ramp_y, ramp_x), 0, 1)


def paste(host: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int], feather: int = FEATHER) -> np.ndarray:
    """`host` with `patch` (cut or tiled to the box's size) laid over `box`, edges feathered."""
    x, y, w, h = box
    if patch.shape[0] < h or patch.shape[1] < w:
        reps = (-(-h // patch.shape[0]), -(-w // patch.shape[1]), 1)
        patch = np.tile(patch, reps)
    py, px = (patch.shape[0] - h) // 2, (patch.shape[1] - w) // 2
    piece = patch[py:py + h, px:px + w].astype(float)
    alpha = feather_mask(h, w, feather)[..., None]
    out = host.copy()
    region = out[y:y + h, x:x + w].astype(float)
    out[y:y + h, x:x + w] = np.clip(alpha * piece + (1 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    return out


def regenerate(host: np.ndarray, box: tuple[int, int, int, int],
               reconstruct: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`host` with the region `box` (sides multiples of 8) replaced by `reconstruct(region)`."""
    x, y, w, h = box
    if w % 8 or h % 8:
        raise ValueError("a regenerated region's sides must be multiples of 8 (the latent's stride)")
    out = host.copy()
    out[y:y + h, x:x + w] = reconstruct(np.ascontiguousarray(host[y:y + h, x:x + w]))
    return out


def inside(crop: tuple[int, int, int, int], region: tuple[int, int, int, int]) -> float:
    """The share of the crop's area that lies inside the region."""
    cx, cy, cw, ch = crop
    rx, ry, rw, rh = region
    dx = max(0, min(cx + cw, rx + rw) - max(cx, rx))
    dy = max(0, min(cy + ch, ry + rh) - max(cy, ry))
    return dx * dy / max(1, cw * ch)
