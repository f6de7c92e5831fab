"""Issue 27: how many real photos from sources the model never saw reach `high`, per codec
and per policy. Each real photo of a corpus (default: the photos corpus built by
`synthcheck data photos`, whose sources appear in no training corpus) is centre-cropped to
at most 1024 px a side, then seen as platforms serve it: lossless (PNG), laundered (0.5x,
JPEG q75), WebP q75, AVIF q60 and HEIC q75. The classifier's calibrated probability alone
decides the level (`synthcheck eval`'s "real at level high"), per policy; per source too.

    python training/experiments/codec_false_alarms.py [--model synthcheck-clip-v2] [--cap 40]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from synthcheck.datasets.records import corpus_root, load_manifest, load_pixels
from synthcheck.models import load_classifier
from synthcheck.policy import POLICIES
from synthcheck.training.evaluate import real_at_level_high
from synthcheck.training.metrics import centre_crop, encode_decode, launder

CONDITIONS = {
    "png": lambda rgb: rgb,
    "laundered (0.5x, JPEG q75)": lambda rgb: launder(rgb, 0.5, 75),
    "webp q75": lambda rgb: encode_decode(rgb, "WEBP", 75),
    "avif q60": lambda rgb: encode_decode(rgb, "AVIF", 60),
    "heic q75": lambda rgb: encode_decode(rgb, "HEIF", 75),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="cache:data/photos")
    parser.add_argument("--model", default="synthcheck-clip-v2")
    parser.add_argument("--cap", type=int, default=40, help="at most this many photos per source (by hash)")
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=None, help="write every score as JSON here")
    args = parser.parse_args()

    records = [r for r in load_manifest(corpus_root(args.corpus, Path.cwd())) if r.label == 0]
    by_source = defaultdict(list)
    for r in sorted(records, key=lambda r: str(r.path)):
        by_source[r.source].append(r)
    chosen = []
    for source, items in sorted(by_source.items()):
        random.Random(source).shuffle(items)
        chosen += items[: args.cap]
    classifier = load_classifier(args.model)
    scores: dict[str, list[float]] = defaultdict(list)
    started = time.time()
    for n, record in enumerate(chosen):
        rgb = centre_crop(load_pixels(record), args.max_side)
        for name, view in CONDITIONS.items():
            scores[name].append(classifier.predict(view(rgb)).p_generated)
        if n and n % 100 == 0:
            print(f"{n}/{len(chosen)} photos ({time.time() - started:.0f} s)", flush=True)
    sources = [r.source for r in chosen]
    labels = np.zeros(len(chosen))
    print(f"\n{args.model} on {len(chosen)} real photos from {len(by_source)} sources of {args.corpus} "
          f"(at most {args.cap} per source, centre <= {args.max_side} px); classifier evidence alone:\n")
    print("| condition | " + " | ".join(f"real at `high` ({p})" for p in POLICIES) + " | mean p |")
    print("| --- | " + " | ".join("---" for _ in POLICIES) + " | --- |")
    for name, p in scores.items():
        p = np.array(p)
        print(f"| {name} | " + " | ".join(f"{real_at_level_high(p, labels, policy):.1%}" for policy in POLICIES)
              + f" | {p.mean():.3f} |")
    print("\nPer source, share at `high` under `default` (" + ", ".join(CONDITIONS) + "):\n")
    print("| source | n | " + " | ".join(CONDITIONS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in CONDITIONS) + " |")
    for source in sorted(by_source):
        pick = np.array([s == source for s in sources])
        cells = [f"{real_at_level_high(np.array(scores[c])[pick], labels[pick]):.0%}" for c in CONDITIONS]
        print(f"| {source} | {int(pick.sum())} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "paths": [str(r.path) for r in chosen],
                                        "sources": sources, "scores": scores}, indent=1))


if __name__ == "__main__":
    main()
