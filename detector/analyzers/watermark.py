"""Known invisible watermarks of open generators, embedded with invisible-watermark's
`dwtDct` method: Stable Diffusion 1.x, 2.x, SDXL and the FLUX.1 reference code.

The decoder is invisible-watermark's EmbedMaxDct.decode, vectorised: each 4x4 block
of the Haar-DWT approximation of the U channel votes one bit, and bit i of an L-bit
message is the mean vote of blocks i, i+L, i+2L, ... The per-block votes do not
depend on L, so they are computed once and every known message is checked from
them. tests/test_watermark.py checks the result against the library's decoder."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..image_input import ImageInput
from ..report import Evidence
from .base import AnalyzerBase, Findings

SOURCE = "watermark"
BLOCK = 4
SCALE = 36  # invisible-watermark's default dwtDct scale for the U channel
MIN_PIXELS = 256 * 256  # the library refuses smaller images
# Generators embed the mark at their native output size (at most ~4096x4096); a larger
# image has been upscaled, which destroys the mark, so decoding it only costs time.
MAX_PIXELS = 4096 * 4096 + 1


def _bits_of_int(value: int) -> tuple[int, ...]:
    # The reference code derives its bits with bin(x)[2:], which drops leading zeros:
    # that is why FLUX.1's "48-bit" message is 46 bits long.
    return tuple(int(b) for b in bin(value)[2:])


def _bits_of_bytes(value: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(value, dtype=np.uint8)))


@dataclass(frozen=True)
class KnownWatermark:
    name: str
    generator: str
    bits: tuple[int, ...]
    # A random bit string matches this closely with probability < 1e-5; on 300 real
    # photos of ../shared/data the closest matches had 52/136, 10/32, 16/48, 14/46 errors.
    max_bit_errors: int


KNOWN_WATERMARKS = (
    KnownWatermark("StableDiffusionV1", "Stable Diffusion 1.x", _bits_of_bytes(b"StableDiffusionV1"), 34),
    KnownWatermark("SDV2", "Stable Diffusion 2.x", _bits_of_bytes(b"SDV2"), 4),
    KnownWatermark("SDXL", "Stable Diffusion XL", _bits_of_int(0xB3EC907BB19E), 8),
    KnownWatermark("FLUX.1", "FLUX.1 (reference code)",
                   _bits_of_int(0b001010101111111010000111100111001111010100101110), 8),
)


# pywt's Haar low-pass tap. haar_approximation() repeats pywt.dwt2's arithmetic (rows
# first, each output a*h + b*h in float64), so its result is bit-identical to
# pywt.dwt2(x, "haar")[0] — the votes below compare remainders against a threshold, where
# any rounding difference could flip a bit — while skipping the three detail bands that
# pywt also computes (on 12 MP: 16 ms instead of 240 ms).
HAAR = 0.7071067811865476


def haar_approximation(channel: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(channel)  # uint8; the products below are float64
    rows = x[0::2] * HAAR + x[1::2] * HAAR
    return rows[:, 0::2] * HAAR + rows[:, 1::2] * HAAR


def block_votes(image: np.ndarray, conversion: int = cv2.COLOR_BGR2YUV) -> np.ndarray:
    """One 0/1 vote per 4x4 block of the U channel's DWT approximation, in the
    library's row-major block order. `image` is read as BGR (the library's API); pass
    conversion=cv2.COLOR_RGB2YUV to read an RGB array as the library would read its
    BGR copy, without making that copy."""
    rows, cols = image.shape[:2]
    u = cv2.cvtColor(image[: rows // 4 * 4, : cols // 4 * 4], conversion)[:, :, 1]
    approx = haar_approximation(u)
    br, bc = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
    blocks = (approx[: br * BLOCK, : bc * BLOCK]
              .reshape(br, BLOCK, bc, BLOCK).transpose(0, 2, 1, 3).reshape(br * bc, BLOCK * BLOCK))
    # the largest-magnitude coefficient other than the first one carries the bit
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    values = np.abs(blocks[np.arange(len(blocks)), pos])
    return ((values % SCALE) > 0.5 * SCALE).astype(np.float64)


def decode_bits(votes: np.ndarray, length: int) -> np.ndarray:
    index = np.arange(len(votes)) % length
    sums = np.bincount(index, weights=votes, minlength=length)
    counts = np.bincount(index, minlength=length)
    return (sums / np.maximum(counts, 1) * 255 > 127).astype(np.uint8)


def match_known(votes: np.ndarray) -> list[dict]:
    """Bit errors of every known watermark against the votes, best first."""
    results = []
    for mark in KNOWN_WATERMARKS:
        decoded = decode_bits(votes, len(mark.bits))
        errors = int(np.sum(decoded != np.asarray(mark.bits)))
        results.append({"watermark": mark.name, "generator": mark.generator, "bits": len(mark.bits),
                        "bit_errors": errors, "found": errors <= mark.max_bit_errors})
    return sorted(results, key=lambda r: r["bit_errors"] / r["bits"])


class WatermarkAnalyzer(AnalyzerBase):
    name = SOURCE
    needs_pixels = True

    def handles(self, media_type: str) -> bool:
        return self.options.watermarks

    def analyze(self, image: ImageInput) -> Findings:
        if image.width * image.height < MIN_PIXELS:
            return Findings(evidence=[Evidence(SOURCE, "watermark_not_checked",
                                               "Too small for the invisible-watermark check (under 256x256).",
                                               0.0)])
        if image.width * image.height > MAX_PIXELS:
            return Findings(evidence=[Evidence(SOURCE, "watermark_not_checked",
                                               "Larger than any generator's native output: the invisible-"
                                               "watermark check was skipped.", 0.0)])
        rgb = image.rgb
        # The reference pipelines disagree on channel order (SD scripts convert to BGR,
        # diffusers hands RGB to a BGR API), so both readings are checked.
        candidates = []
        for order, conversion in (("bgr", cv2.COLOR_RGB2YUV), ("rgb-as-bgr", cv2.COLOR_BGR2YUV)):
            for result in match_known(block_votes(rgb, conversion)):
                candidates.append({**result, "channel_order": order})
        found = [c for c in candidates if c["found"]]
        if found:
            best = min(found, key=lambda c: c["bit_errors"])
            return Findings(evidence=[Evidence(
                SOURCE, "invisible_watermark",
                f"Invisible watermark of {best['generator']} found ({best['bits'] - best['bit_errors']} of "
                f"{best['bits']} bits match): the reference code of that generator embeds it in every output.",
                6.0, best)])
        best = min(candidates, key=lambda c: c["bit_errors"] / c["bits"])
        return Findings(evidence=[Evidence(
            SOURCE, "no_known_watermark",
            "No known invisible watermark (Stable Diffusion 1.x/2.x, SDXL, FLUX.1) was found; most "
            "generators and services embed none, so this clears nothing.", 0.0,
            {"closest": best["watermark"], "bit_errors": best["bit_errors"], "bits": best["bits"]})])
