"""Where the crops of an image are: a grid at native resolution, never a resize, and the one
deliberate exception, the global view (the whole image shrunk, CLIP's own preprocessing).
numpy and Pillow only, so that every model kind (and the torch-free inference path) shares
one definition."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .card import Preprocessing


def grid_shape(height: int, width: int, prep: Preprocessing) -> tuple[int, int]:
    """(rows, cols) of the crop grid on a height x width image (at least one crop's size)."""
    if prep.cell:
        rows, cols = max(1, math.ceil(height / prep.cell)), max(1, math.ceil(width / prep.cell))
        while prep.max_crops and rows * cols > prep.max_crops:
            # the denser direction loses a row or column first, so the cells stay near square
            if cols / width >= rows / height and cols > 1:
                cols -= 1
            else:
                rows -= 1
        return rows, cols
    size = prep.crop_size
    return min(prep.max_grid, max(1, math.ceil(height / size))), min(prep.max_grid, max(1, math.ceil(width / size)))


def crop_grid(height: int, width: int, prep: Preprocessing) -> tuple[int, int, list[tuple[int, int]]]:
    """(rows, cols, top-left corners) of crops spread evenly over the whole image: the first
    and last of a row or column touch the image's edges."""
    size = prep.crop_size
    rows, cols = grid_shape(height, width, prep)

    def starts(extent: int, n: int) -> list[int]:
        if n == 1 and prep.anchor == "centre":
            return [max(0, extent - size) // 2]
        return [int(v) for v in np.linspace(0, max(0, extent - size), n).round().astype(int)]

    return rows, cols, [(y, x) for y in starts(height, rows) for x in starts(width, cols)]


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


def global_view(rgb: np.ndarray, side: int) -> np.ndarray:
    """The whole image resized (bicubic, antialiased) so that its shorter side is `side`; the
    centre crop of it is then what CLIP's own preprocessing sees. Where a native crop sees a
    patch's noise and codec traces, this view sees the composition, which a codec barely
    changes (issue 27: its AUC holds across PNG, WebP and AVIF where the native crop's falls)."""
    h, w = rgb.shape[:2]
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
