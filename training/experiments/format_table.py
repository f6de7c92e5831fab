"""Issue 27, item 1: what each class arrives as. For every image of the training corpora
(the shared ones, the artwork and photos corpora built by `synthcheck data`), its container
(from the bytes, not the name), and for JPEGs the estimated IJG quality and chroma
subsampling; printed per corpus and label as Markdown. A format that one class has and the
other lacks is a label the classifier can learn instead of the generator's traces.

    python training/experiments/format_table.py [--corpus ../shared/data ...]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

from synthcheck.analyzers.jpeg_quant import estimate_quality
from synthcheck.datasets.records import corpus_root, load_manifest

DEFAULT = ("../shared/data", "../shared/data-modern", "cache:data/artwork", "cache:data/photos")


def describe(path: Path) -> tuple[str, str]:
    """(container, detail): detail is 'q<quality bucket> <subsampling>' for a JPEG."""
    try:
        with Image.open(path) as im:
            fmt = im.format or "?"
            if fmt == "JPEG":
                from PIL import JpegImagePlugin

                quality, _ = estimate_quality(im.quantization)
                sub = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im), "other")
                bucket = "<=75" if quality <= 75 else "76-89" if quality < 90 else ">=90"
                return fmt, f"q{bucket} {sub}"
            if fmt == "WEBP":
                return fmt, "lossless" if b"VP8L" in path.read_bytes()[:64] else "lossy"
            return fmt, ""
    except Exception as exc:  # an unreadable file is reported, not skipped silently
        return "unreadable", type(exc).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="*", default=list(DEFAULT))
    args = parser.parse_args()
    containers: dict[tuple[str, str], Counter] = defaultdict(Counter)
    details: dict[str, Counter] = defaultdict(Counter)
    for corpus in args.corpus:
        try:
            root = corpus_root(corpus, Path.cwd())
        except Exception as exc:  # a corpus not built here: said, not hidden
            print(f"<!-- {corpus}: {exc} -->")
            continue
        for record in load_manifest(root):
            label = "generated" if record.label else "real"
            fmt, detail = describe(Path(record.path))
            containers[(corpus, label)][fmt] += 1
            details[label][f"{fmt} {detail}".strip()] += 1
    formats = sorted({f for c in containers.values() for f in c})
    print("| corpus | label | n | " + " | ".join(formats) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in formats) + " |")
    for (corpus, label), counts in sorted(containers.items()):
        print(f"| {corpus} | {label} | {sum(counts.values())} | " + " | ".join(str(counts[f]) for f in formats) + " |")
    print("\n| format detail | real | generated |\n| --- | --- | --- |")
    for key in sorted(set(details["real"]) | set(details["generated"])):
        print(f"| {key} | {details['real'][key]} | {details['generated'][key]} |")


if __name__ == "__main__":
    main()
