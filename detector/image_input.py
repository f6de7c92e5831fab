"""Read an input once and decode it once; every analyzer shares the result.

The format is sniffed from the bytes, never from the file name: uploads arrive with
wrong extensions all the time."""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFile

from .errors import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    UnreadablePathError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from .report import ClassifierResult

# The pixel limit is ours (AnalysisOptions.max_pixels), checked from the header
# before any pixel is decoded; Pillow's own global bomb check would fire first
# with a less helpful message, so it is switched off here.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

try:  # HEIC/HEIF come from phones; pillow-heif registers them with Pillow.
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF_OK = True
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    _HEIF_OK = False

# media type -> Pillow format name used to open it
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
    "image/avif": "AVIF",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
}

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}


def sniff_media_type(head: bytes) -> str | None:
    """Media type from the first bytes of a file, or None when it is no supported image."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[0:4], "big")
        brands = {head[8:12]} | {
            head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)
        }
        if brands & _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _HEIF_BRANDS:
            return "image/heif"
    return None


def to_rgb(frame: Image.Image) -> Image.Image:
    """RGB of a decoded frame: palettes expanded, transparency composited on white
    (transparent pixels are otherwise arbitrary colours). Training data goes through this
    too (datasets.records.load_pixels), so the classifier sees what analysis shows it."""
    if frame.mode == "RGB":
        return frame
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        frame = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return frame.convert("RGB")


@dataclass
class ImageInput:
    """The bytes of one input, its identity, and its decoded first frame."""

    path: str
    data: bytes
    media_type: str
    image: Image.Image  # header parsed; pixels loaded by load_pixels()
    pixels_error: str | None = field(default=None)
    # What the classifier found on these pixels, for the checks that run after it (the faces
    # check reads the background off its crops instead of encoding windows again); set by the
    # pipeline, None until then or when it did not run.
    classified: ClassifierResult | None = field(default=None)
    # An analyzer's early work (AnalyzerBase.early_work) the pipeline started beside the analyzers
    # ahead of it, by analyzer name; empty when nothing was started early.
    early: dict[str, Future] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def pixels_ok(self) -> bool:
        return self.pixels_error is None

    @cached_property
    def rgb(self) -> np.ndarray:
        """H x W x 3 uint8 RGB array of the first frame (alpha dropped, palettes expanded)."""
        return np.asarray(to_rgb(self.image))

    def early_result(self, name: str, work: Callable[[ImageInput], Any]) -> Any:
        """What `work` returns for this image: the result of the run the pipeline started early
        for analyzer `name` (its exception re-raised here, in that analyzer), else computed now."""
        started = self.early.pop(name, None)
        return work(self) if started is None else started.result()

    def load_pixels(self) -> None:
        """Decode the pixels; a failure is kept (not raised) so that byte-level
        analyzers such as C2PA still run on a damaged file."""
        try:
            self.image.load()
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
            self.pixels_error = f"the image data could not be decoded: {exc}"


def display_path(source: str | Path | bytes) -> str:
    return "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


def read_source(source: str | Path | bytes, max_file_bytes: int) -> bytes:
    """The input's bytes, checked against the size limit before reading. Only regular
    files are read: a named pipe, device or socket is refused at once (opened without
    blocking, so a FIFO with no writer never hangs the scan)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = _read_regular_file(str(source), max_file_bytes)
    if not data:
        raise EmptyFileError("the file is empty (0 bytes)")
    if len(data) > max_file_bytes:
        raise FileTooLargeError(f"input is {len(data):,} bytes; the limit is {max_file_bytes:,} bytes")
    return data


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _refuse_if_not_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        words = next((w for test, w in _KINDS if test(mode)), "of another kind")
        raise UnreadablePathError(f"{path} is not a regular file: it is {words}")


def _read_regular_file(path: str, max_file_bytes: int) -> bytes:
    try:
        _refuse_if_not_regular(path, os.stat(path).st_mode)
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open() still
        # returns at once and fstat below refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadablePathError(f"{path} does not exist") from None
    except PermissionError:
        raise UnreadablePathError(f"{path} cannot be read: permission denied") from None
    except OSError as exc:
        raise UnreadablePathError(f"{path} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _refuse_if_not_regular(path, info.st_mode)
        if info.st_size > max_file_bytes:
            raise FileTooLargeError(f"file is {info.st_size:,} bytes; the limit is {max_file_bytes:,} bytes")
        try:
            return handle.read(max_file_bytes + 1)
        except OSError as exc:
            raise UnreadablePathError(f"{path} cannot be read: {exc.strerror or exc}") from None


def open_image(path: str, data: bytes, max_pixels: int) -> ImageInput:
    """Identify and open an image (header only) and enforce the pixel limit."""
    media_type = sniff_media_type(data[:64])
    if media_type is None:
        raise UnsupportedFormatError(
            "not a supported image: expected JPEG, PNG, WebP, AVIF, HEIC/HEIF, TIFF or GIF"
        )
    if media_type in ("image/heic", "image/heif") and not _HEIF_OK:  # pragma: no cover
        raise UnsupportedFormatError("HEIC/HEIF support needs pillow-heif")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[media_type]])
    except Exception as exc:
        raise CorruptImageError(f"the {media_type} header could not be parsed: {exc}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"the image declares an impossible size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image declares {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,} (a decompression bomb, or an image too large to analyse)"
        )
    # Multi-frame images (GIF, animated WebP, HEIF collections): the first frame is analysed.
    return ImageInput(path=path, data=data, media_type=media_type, image=image)
