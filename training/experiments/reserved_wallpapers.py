"""A measurement on images no choice was made with: the four Debian wallpaper packages
reserved for evaluation (never trained, tuned or calibrated on; `synthcheck data` refuses
them). Every image in them is human-made or a real photo, so every `high` is a false alarm.

    python training/experiments/reserved_wallpapers.py [--models synthcheck-clip-v2 synthcheck-clip-v1]

Run once per shipped model after its recipe and scaling were fixed; the result goes in
training/experiments/README.md and must never feed back into a choice (or the packages stop
being a held-out test). Prints, per package and model, how many raster images the
classifier alone puts at each level (default policy) and their mean p generated."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from synthcheck.datasets.artwork import SUFFIXES
from synthcheck.datasets.reserved import RESERVED_WALLPAPERS
from synthcheck.fusion import classifier_evidence, fuse
from synthcheck.image_input import to_rgb
from synthcheck.policy import POLICIES

MAX_PIXELS = 40_000_000


def images(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in SUFFIXES:
            try:
                with Image.open(path) as im:
                    if im.width * im.height <= MAX_PIXELS:
                        out.append(path)
            except Exception:
                continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["synthcheck-clip-v2", "synthcheck-clip-v1"])
    args = parser.parse_args()
    from synthcheck.models import load_classifier

    classifiers = {name: load_classifier(name) for name in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["apt-get", "download", *sorted(RESERVED_WALLPAPERS)], cwd=root, check=True,
                       capture_output=True)
        for deb in sorted(root.glob("*.deb")):
            package = deb.name.split("_")[0]
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root / package)], check=True)
            files = images(root / package)
            for name, classifier in classifiers.items():
                p = []
                for path in files:
                    with Image.open(path) as im:
                        p.append(classifier.predict(np.asarray(to_rgb(im))).p_generated)
                levels = [fuse([classifier_evidence(_result(q))], POLICIES["default"]).level for q in p]
                counts = {lvl: levels.count(lvl) for lvl in ("low", "medium", "high")}
                print(f"{package} ({deb.name.split('_')[1]}), {len(files)} images, {name}: {counts}, "
                      f"mean p {np.mean(p):.3f}")


def _result(p: float):
    from synthcheck.report import ClassifierResult

    return ClassifierResult("", "", float(p))


if __name__ == "__main__":
    main()
