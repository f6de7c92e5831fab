"""Image sizes typical of generators: they work on latents in multiples of 64 pixels
and offer a few fixed output sizes. Weak evidence: crops and resizes change it."""

from __future__ import annotations

from ..image_input import ImageInput
from ..report import Evidence
from .base import AnalyzerBase, Findings

SOURCE = "dimensions"

# Default or preset output sizes of common generators (both orientations).
_PRESETS = [
    (512, 512), (768, 768), (1024, 1024), (2048, 2048), (512, 768), (640, 960), (1024, 1536),
    (832, 1216), (896, 1152), (768, 1344), (640, 1536), (1024, 1792), (1152, 2048),
    (1536, 2048), (864, 1536), (928, 1664), (1328, 1328), (1664, 928), (1184, 864),
]
GENERATOR_SIZES = {s for w, h in _PRESETS for s in ((w, h), (h, w))}


class DimensionsAnalyzer(AnalyzerBase):
    name = SOURCE

    def analyze(self, image: ImageInput) -> Findings:
        size = (image.width, image.height)
        details = {"width": image.width, "height": image.height}
        if size in GENERATOR_SIZES:
            return Findings(evidence=[Evidence(
                SOURCE, "generator_size",
                f"{image.width}x{image.height} is a standard output size of image generators.", 0.8, details)])
        if image.width % 64 == 0 and image.height % 64 == 0 and 512 <= max(size) <= 2048:
            return Findings(evidence=[Evidence(
                SOURCE, "multiple_of_64",
                f"{image.width}x{image.height}: both sides are multiples of 64, as latent-diffusion "
                "outputs are.", 0.3, details)])
        return Findings()
