"""The sources synthcheck is judged on (../shared/RESERVED.md), in one place: every data
command (`synthcheck data artwork`, `synthcheck data photos`) refuses them by name before it
fetches anything. Training, tuning, calibrating or picking thresholds on them would make the
held-out measurement meaningless. Keep this list in step with RESERVED.md; a fork or a
mirror of the same images counts as the source itself (no name check can catch that: the
source tables are reviewed for it)."""

from __future__ import annotations

# The four wallpaper packages training/experiments/reserved_wallpapers.py measures on.
RESERVED_WALLPAPERS = frozenset({
    "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds", "plasma-workspace-wallpapers",
})
RESERVED_DEBIAN_PACKAGES = RESERVED_WALLPAPERS | {"gcompris-qt-data", "xfdesktop4-data", "eterm"}
# PyPI packages whose sample images are reserved (sklearn/datasets/images/, mpl-data/sample_data/):
# refused whole, which is simpler to check than a member list.
RESERVED_WHEELS = frozenset({"scikit-learn", "sklearn", "matplotlib"})
# GitHub OWNER/NAME, lower-cased (GitHub names are case-insensitive). songguoxs/gpt4o-image-prompts
# and zzzDavid/ICDAR-2019-SROIE may be used only through the files already in ../shared.
RESERVED_REPOSITORIES = frozenset(name.lower() for name in (
    "ageitgey/face_recognition", "andrewdcampbell/OpenCV-Document-Scanner", "comfyanonymous/ComfyUI_examples",
    "declan-wright/Image-Dataset", "EvoLinkAI/awesome-ideogram-4.0-prompts",
    "Evolink-AI/awesome-seedream-5-pro-guide-and-prompt", "Exiv2/exiv2", "filipstrand/mflux",
    "GoogleCloudPlatform/generative-ai", "ianare/exif-samples", "jbhuang0604/SelfExSR", "justadudewhohacks/face-api.js",
    "Kwai-Kolors/Kolors", "leejet/stable-diffusion.cpp", "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB",
    "LycheeOrg/Lychee", "mageia/awesome-gpt-image-2-API-and-Prompts", "MikeKovarik/exifr",
    "ML72/AI-Image-Classifier-Playground", "monostream/tifig", "openai/dalle-2-preview", "photonixapp/photonix",
    "photoview/photoview", "Pixmind-io/awesome-midjourney-v7-example-prompts", "polimi-ispl/prnu-python",
    "preangelleo/illustration-style-samples", "ruifengzhaomail/Awesome-Nano-Banana-Guides-and-Images",
    "saimn/sigal", "softmatic/vision-data", "songguoxs/gpt4o-image-prompts", "TencentARC/GFPGAN",
    "Tencent-Hunyuan/HunyuanImage-3.0", "thumbor/thumbor", "timesler/facenet-pytorch", "vicliv/deepfake-survey",
    "VincentGourbin/flux-2-swift-mlx", "ZizheRuan/awesome-nano-banana-pro-images", "zzzDavid/ICDAR-2019-SROIE",
))
RESERVED_FOR_EVALUATION = RESERVED_DEBIAN_PACKAGES | RESERVED_WHEELS | RESERVED_REPOSITORIES


def canonical(name: str) -> str:
    """A package or repository name as the reserved set spells it: `https://github.com/A/B.git`,
    `github:A/B` and `a/b` all become `a/b`."""
    name = name.strip().lower().removesuffix("/").removesuffix(".git")
    for prefix in ("https://github.com/", "http://github.com/", "git@github.com:", "github.com/", "github:"):
        name = name.removeprefix(prefix)
    return name


def is_reserved(name: str) -> bool:
    """Whether a Debian package, a PyPI package or a GitHub repository is reserved for evaluation."""
    return canonical(name) in RESERVED_FOR_EVALUATION
