"""Model registry: the shipped classifiers, each a folder `models/<name>/` holding
`model.safetensors` and its card (`card.json` for code, README.md for people).

    list_models()            -> names of the shipped models
    load_classifier(name)    -> a ready Classifier (weights checked against the card's sha256)
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from ..lazy import lazy_getattr

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "synthcheck-clip-v3"


def _version_order(name: str) -> list:
    """'synthcheck-lite0-v13' after '...-v9': numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(models_dir: Path = MODELS_DIR) -> list[str]:
    """The shipped models, oldest version first (v9 before v13)."""
    return sorted((p.parent.name for p in models_dir.glob("*/card.json")), key=_version_order)


def resolve(name: str) -> str:
    """A model name as options and settings give it: "default" is DEFAULT_MODEL."""
    return DEFAULT_MODEL if name == "default" else name


def check_available(name: str, models_dir: Path = MODELS_DIR, faces: bool = False) -> None:
    """Refuse, before any file is analysed, a model ("default" or a name) that is not shipped
    or whose pretrained backbone is not set up (cheap: reads the card, never the weights;
    once, in a cache set up before prepared graphs, writes the backbone's prepared graph),
    and, with `faces`, a face detector that is not set up."""
    name = resolve(name)
    if name not in list_models(models_dir):
        raise ModelNotFoundError(f"no shipped model {name!r}; shipped: {', '.join(list_models(models_dir))}")
    from .backbones import ensure_prepared
    from .card import ModelCard

    for member in ModelCard.load(models_dir / name / "card.json").members:
        if member.backbone:  # set up, and its prepared graph written here rather than by each worker
            ensure_prepared(member.backbone, member.backbone_variant)
    if faces:
        from .faces import detector_file

        detector_file()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_inference_threads: int | None = None


def set_inference_threads(threads: int) -> None:
    """Threads for each model's forward pass in this process (1 in a worker process: N
    workers x all-cores threads would oversubscribe the machine). Torch is told too when a
    torch model is or gets loaded; the CLIP models run on ONNX Runtime without it."""
    global _inference_threads
    _inference_threads = max(1, int(threads))
    import sys

    if "torch" in sys.modules:  # never imported for this alone
        sys.modules["torch"].set_num_threads(_inference_threads)


def inference_threads() -> int:
    """The threads set for this process, else the CPU count (at most 4 help one image)."""
    return _inference_threads or min(4, os.cpu_count() or 1)


# Imported on first use (PEP 562): they need torch, the registry above does not.
_LAZY = {"build_members": "loading", "load_classifier": "loading", "load_classifier_from": "loading",
         "Classifier": "classifier", "OneClassScorer": "classifier",
         "Member": "card", "ModelCard": "card", "Preprocessing": "card"}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["Classifier", "DEFAULT_MODEL", "MODELS_DIR", "Member", "ModelCard", "ModelError", "ModelIntegrityError",
           "ModelNotFoundError", "Preprocessing", "check_available", "list_models", "load_classifier",
           "inference_threads", "load_classifier_from", "resolve", "set_inference_threads", "sha256_file"]
