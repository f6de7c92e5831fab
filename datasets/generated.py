"""Generated images from many named generators as `generated` training data: the sample and
result folders of official model repositories (each pinned to a commit), one source per
generator, so that a leave-source-out estimate holds out one generator at a time.

The pixel classifier had seen about ten generator groups, most of them SD 1.5; it needs more
generators, not more files from one. The corpus is built at training time into the cache, with
the machinery of the photos corpus (datasets/photos.py: refused names, pinned commits read with
`git cat-file`, provenance per file, size filter, deduplication, caps):

    synthcheck data generated --repos ~/repos   # -> $SYNTHCHECK_CACHE/data/generated/manifest.csv

Files land under `generated/<source>/`; the manifest's `label` is generated and `generator` the
model as the source names it, so records.load_manifest groups them by source:generator. Configs
name the corpus `cache:data/generated`. Sources reserved for evaluation (datasets/reserved.py)
and sources already in ../shared (photos.ALREADY_IN_SHARED, which holds the generated sources of
../shared/data and ../shared/data-modern) are refused by name before anything is fetched. The
source table, with counts, licenses and what was left out, is datasets/GENERATED.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .photos import PhotoSource, build as _build

CAP = 100  # at most this many images per source, a sample by content hash


def _source(name: str, repository: str, commit: str, generator: str, category: str, license: str,
            include: Sequence[str], cap: int | None = CAP, **kwargs) -> PhotoSource:
    return PhotoSource(name, category, license, repository=repository, commit=commit, include=tuple(include),
                       label="generated", generator=generator, cap=cap, **kwargs)


# The source table: datasets/GENERATED.md lists it with counts. `license` is what the repository's LICENSE
# states. Every include list names the folders (or files) of the model's own outputs: inputs, control maps,
# architecture figures, charts, logos and screenshots are left out by name.
SOURCES: tuple[PhotoSource, ...] = (
    _source("x-flux-examples", "XLabs-AI/x-flux", "47495425dbed499be1e8e5a6e52628b07349cba2", "flux-1-dev",
            "other", "Apache-2.0 (code; FLUX.1 [dev] outputs under its non-commercial licence)",
            ["assets/readme/examples/*.png"], exclude=("*_example_*", "*_result*"),
            note="FLUX.1 [dev] with XLabs LoRAs (realism, furry, art); ControlNet results (shown beside their "
                 "control maps) left out"),
    _source("hunyuan-dit-results", "Tencent/HunyuanDiT", "368280ec35119ed2741a30cc5b40aafde34f8a8a", "hunyuan-dit-1.2",
            "other", "Tencent Hunyuan Community License",
            ["ipadapter/asset/output", "lora/asset/porcelain/inference", "controlnet/asset/output"],
            note="Hunyuan-DiT IP-Adapter, LoRA and ControlNet results"),
    _source("kandinsky-3-samples", "ai-forever/Kandinsky-3", "a4c9e92e4d9b2a57081b7e33a2e82373c99ddbfc",
            "kandinsky-3", "other", "Apache-2.0",
            ["assets/photo_*.jpg", "assets/kandinsky.jpg", "assets/butterly_effect.jpg", "assets/title.jpg"],
            note="Kandinsky 3 text-to-image samples"),
    _source("ic-light-outputs", "lllyasviel/IC-Light", "bcf3f29ca85be8a4686215f477b546f5030be8b7", "ic-light",
            "people", "Apache-2.0", ["imgs/o*.png", "imgs/alter/o*.png"],
            note="IC-Light (SD 1.5 based) relighting outputs; the i* inputs left out"),
    _source("infinity-samples", "FoundationVision/Infinity", "4c27bbb54a9918847a2fe56b0fbe31a8523791a1", "infinity",
            "other", "MIT", ["assets/2b_20b", "assets/2b_8b"],
            note="Infinity (bitwise autoregressive, 2B/8B/20B) text-to-image samples"),
    _source("step1x-edit-outputs", "stepfun-ai/Step1X-Edit", "570eba6ebda0c45c013983a483afbf2fd12bfcbc",
            "step1x-edit", "other", "Apache-2.0", ["assets/outputs_en_1024", "assets/outputs_cn_1024"],
            note="Step1X-Edit edit results (English and Chinese instructions); the examples/ inputs left out"),
)


def build(out: Path, sources: Sequence[PhotoSource] | None = None, repos: Path | None = None, clone: bool = True,
          log=print) -> Path:
    """The generated corpus at `out` (out/generated/<source>/..., out/manifest.csv): photos.build
    over the generated source table (SOURCES unless `sources` is given). Returns the manifest's path."""
    sources = SOURCES if sources is None else sources
    if any(s.label != "generated" for s in sources):
        raise ValueError("the generated corpus takes generated sources only")
    return _build(out, sources, repos=repos, clone=clone, log=log)
