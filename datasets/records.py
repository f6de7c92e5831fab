"""What a training image is, where it comes from, and how records are split.

A record is one image (or one tile of a grid image) with its label and its *group*:
the unit that is never divided between splits. Validation holds out whole groups -
generators and camera makes - so that it measures generalisation to unseen sources,
and a real photo shares its group key with the fakes built from it."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..cache import cache_root
from ..errors import CorpusMissingError
from ..image_input import to_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".gif", ".bmp"}


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    label: int  # 1 = generated (or AI-edited), 0 = real
    source: str  # where it came from (folder / repository)
    generator: str  # generator name for generated images, camera make for real ones ("" if unknown)
    tile: int | None = None  # quadrant 0..3 of a 2x2 grid image; None = the whole image
    content_key: str = ""  # shared by a real photo and the fakes made from it

    @property
    def group(self) -> str:
        """The unit a split never divides: generator for fakes, camera make for photos."""
        return f"{self.source}:{self.generator or '-'}"


def load_manifest(root: str | Path, manifest: str = "manifest.csv") -> list[ImageRecord]:
    """Records of a corpus described by a manifest CSV (`../shared/data/manifest.csv`
    layout: path,label,source,generator,...,camera,...,note). Rows noted as a 2x2 grid
    become four records, one per tile."""
    root = Path(root)
    records = []
    with (root / manifest).open(newline="") as f:
        for row in csv.DictReader(f):
            label = 1 if row["label"] == "generated" else 0
            folder = row["path"].split("/")[1] if row["path"].count("/") >= 2 else row["source"]
            # a real photo's group is its camera make; a real image with no camera (artwork) its package's
            generator = row["generator"] if label else ((row.get("camera") or "").split(" ")[0].lower()
                                                        or row.get("package") or "")
            base = ImageRecord(root / row["path"], label, folder, generator, None, row["path"])
            if "2x2 grid" in (row.get("note") or ""):
                records += [replace(base, tile=t, content_key=f"{row['path']}#{t}") for t in range(4)]
            else:
                records.append(base)
    return records


def corpus_root(corpus: str, repo_root: Path) -> Path:
    """Where a config's corpus is: a folder relative to the repository root (`../shared/data`)
    or `cache:REL`, a corpus that a data script built under the cache (`synthcheck data`)."""
    if corpus.startswith("cache:"):
        root = cache_root() / corpus.removeprefix("cache:")
        if not (root / "manifest.csv").is_file():
            name = Path(corpus.removeprefix("cache:")).name
            raise CorpusMissingError(f"corpus {corpus} is not built ({root}/manifest.csv missing): run "
                                     f"`synthcheck data {name}`")
        return root
    root = (repo_root / corpus).resolve()
    if not (root / "manifest.csv").is_file():
        raise CorpusMissingError(f"corpus {corpus} not found ({root}/manifest.csv missing; the shared corpora "
                                 "sit beside the checkout as ../shared)")
    return root


def load_folder(root: str | Path) -> list[ImageRecord]:
    """Records of a folder laid out as `real/<source>/...` and `generated/<generator>/...`
    (any depth below; files directly in real/ or generated/ get the source '-')."""
    root = Path(root)
    records = []
    for label_name, label in (("real", 0), ("generated", 1)):
        base = root / label_name
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(base)
            source = rel.parts[0] if len(rel.parts) > 1 else "-"
            records.append(ImageRecord(path, label, f"{label_name}/{source}", source if label else "",
                                       None, str(path.relative_to(root))))
    if not records:
        raise FileNotFoundError(f"{root} has no images under real/ or generated/")
    return records


def load_pixels(record: ImageRecord, max_side: int | None = None) -> np.ndarray:
    """RGB uint8 pixels of a record (its tile, if it is one), at native resolution
    unless max_side asks for a smaller copy."""
    with Image.open(record.path) as im:
        im = to_rgb(im)
        if record.tile is not None:
            w, h = im.size
            x, y = (record.tile % 2) * (w // 2), (record.tile // 2) * (h // 2)
            im = im.crop((x, y, x + w // 2, y + h // 2))
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BICUBIC)
        return np.asarray(im)


def _fraction(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_records(records: Iterable[ImageRecord], validation_groups: Sequence[str],
                  calibration_fraction: float = 0.15, salt: str = "synthcheck") -> dict[str, list[ImageRecord]]:
    """Split into `train`, `calibration` and `validation`.

    validation: every record whose group matches one of `validation_groups` (exact
    group, or a prefix ending in ':' for a whole source), plus the fakes built from
    validation photos. calibration: a deterministic share of the remaining content
    keys (same sources as train, unseen files), for temperature and ensemble fitting."""
    records = list(records)
    def held_out(group: str) -> bool:
        return any(group == g or (g.endswith(":") and group.startswith(g)) for g in validation_groups)

    validation_keys = {r.content_key for r in records if held_out(r.group)}
    splits: dict[str, list[ImageRecord]] = {"train": [], "calibration": [], "validation": []}
    for r in records:
        if r.content_key in validation_keys or held_out(r.group):
            splits["validation"].append(r)
        elif _fraction(r.content_key, salt) < calibration_fraction:
            splits["calibration"].append(r)
        else:
            splits["train"].append(r)
    return splits
