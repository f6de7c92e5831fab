"""Derive the `dimensions` analyzer's weights from data.

    python training/experiments/size_weights.py            # print the table
    python training/experiments/size_weights.py --write    # and write detector/analyzers/generator_sizes.json

What the corpora can and cannot say: their builders centre-cropped almost every file (to
<=640, 512 or 384 px; see their READMEs), so the sizes of their *generated* files are the
crops', not the generators' (no generated file keeps a preset output size except the 2x2
sheets, which are skipped). They do say how often *real* files, crops included, have a
size: P(size | real), counted over every real file of both corpora and the artwork corpus,
with half a file added. P(size | generated) is an assumption, written here: a generator's
output is at one of its documented presets, spread evenly over the `PRESETS` list. The
weight is then ln(P(size | generated) / P(size | real)), capped at `CAP` (crops and resizes
change a size: weak evidence) and kept only when positive (an unusual size is no evidence
of a camera: anyone can resize). A preset that real files commonly have (512x512: classic
test images, avatars, every crop made to that size) gets nothing.

Sizes are counted without orientation. `CAMERA_SIZES`, standard 4:3 and 3:2 camera and
screen sizes whose sides happen to be multiples of 64 (2048x1536 is 3 MP 4:3), are never
evidence. The evaluation-only wallpaper packages are in no corpus read here."""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import json
import math
from pathlib import Path

from PIL import Image

from synthcheck.datasets.records import corpus_root

CORPORA = ("../shared/data", "../shared/data-modern", "cache:data/artwork")
OUT = Path("detector/analyzers/generator_sizes.json")
CAP = 0.8  # the most a size may add (x2.2 odds)
# P(multiple of 64 | generated, not a preset): latent generators work in multiples of 64
# (SD, Flux), some in 16 or 32: half of their off-preset outputs, assumed.
MULTIPLE_OF_64_GENERATED_SHARE = 0.5
MULTIPLE_OF_64_CAP = 0.3
# Documented default or preset sizes of common generators (SD 1.x/2.x/XL, Flux, DALL-E 3,
# GPT Image, Midjourney, Qwen-Image), listed whatever the corpora hold.
PRESETS = [
    (512, 512), (768, 768), (1024, 1024), (2048, 2048), (512, 768), (640, 960), (1024, 1536),
    (832, 1216), (896, 1152), (768, 1344), (640, 1536), (1024, 1792), (1152, 2048),
    (864, 1536), (928, 1664), (1328, 1328), (1664, 928), (1184, 864),
]


CAMERA_SIZES = [(1024, 768), (1280, 960), (2048, 1536), (1920, 1280)]


def key(w: int, h: int) -> tuple[int, int]:
    return (max(w, h), min(w, h))


def is_multiple_of_64(w: int, h: int) -> bool:
    return w % 64 == 0 and h % 64 == 0 and 512 <= max(w, h) <= 2048


def count(repo_root: Path) -> tuple[dict, dict, dict[str, str]]:
    sizes: dict[int, collections.Counter] = {0: collections.Counter(), 1: collections.Counter()}
    totals = {0: 0, 1: 0}
    manifests = {}
    for corpus in CORPORA:
        root = corpus_root(corpus, repo_root)
        manifests[corpus] = hashlib.sha256((root / "manifest.csv").read_bytes()).hexdigest()
        with (root / "manifest.csv").open(newline="") as f:
            for row in csv.DictReader(f):
                if "2x2 grid" in (row.get("note") or ""):
                    continue  # a grid's size is the sheet's, not a generator's output
                try:
                    with Image.open(root / row["path"]) as im:
                        w, h = im.size
                except Exception:
                    continue
                label = 1 if row["label"] == "generated" else 0
                sizes[label][key(w, h)] += 1
                totals[label] += 1
    return sizes, totals, manifests


def weight(real: int, total_real: int, generated_share: float, cap: float) -> float:
    llr = math.log(generated_share / ((real + 0.5) / (total_real + 1)))
    return round(max(0.0, min(cap, llr)), 2)


def derive(repo_root: Path) -> dict:
    sizes, totals, manifests = count(repo_root)
    presets = sorted({key(*s) for s in PRESETS})
    share = 1 / len(presets)
    table = [{"size": f"{s[0]}x{s[1]}", "real": sizes[0][s], "generated_in_corpora": sizes[1][s],
              "weight": weight(sizes[0][s], totals[0], share, CAP)} for s in presets]
    skip = set(presets) | set(CAMERA_SIZES)
    m64_real = sum(n for s, n in sizes[0].items() if is_multiple_of_64(*s) and s not in skip)
    m64_generated = sum(n for s, n in sizes[1].items() if is_multiple_of_64(*s) and s not in skip)
    return {"derived_by": "training/experiments/size_weights.py", "corpora_manifests_sha256": manifests,
            "files": {"generated": totals[1], "real": totals[0]}, "cap": CAP,
            "assumed_share_of_generated_per_preset": round(share, 4), "sizes": table,
            "camera_sizes": [{"size": f"{w}x{h}", "real": sizes[0][(w, h)]} for w, h in CAMERA_SIZES],
            "multiple_of_64": {"real": m64_real, "generated_in_corpora": m64_generated,
                               "assumed_generated_share": MULTIPLE_OF_64_GENERATED_SHARE,
                               "weight": weight(m64_real, totals[0], MULTIPLE_OF_64_GENERATED_SHARE,
                                                MULTIPLE_OF_64_CAP)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT}")
    args = parser.parse_args()
    result = derive(Path.cwd())
    print(f"files: {result['files']}")
    print("size        real  generated (cropped corpora)  weight")
    for row in result["sizes"]:
        print(f"{row['size']:<11} {row['real']:>4}  {row['generated_in_corpora']:>9}"
              f"                    {row['weight']}")
    m = result["multiple_of_64"]
    print(f"other multiples of 64: real {m['real']}, generated {m['generated_in_corpora']}, weight {m['weight']}")
    if args.write:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
