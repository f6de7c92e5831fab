"""Model registry: the shipped classifiers, each a folder `models/<name>/` holding
`model.safetensors` and its card (`card.json` for code, README.md for people).

    list_models()            -> names of the shipped models
    load_classifier(name)    -> a ready Classifier (weights checked against the card's sha256)
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from ..lazy import lazy_getattr

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "synthcheck-lite0-v13"


def _version_order(name: str) -> list:
    """'synthcheck-lite0-v13' after '...-v9': numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(models_dir: Path = MODELS_DIR) -> list[str]:
    """The shipped models, oldest version first (v9 before v13)."""
    return sorted((p.parent.name for p in models_dir.glob("*/card.json")), key=_version_order)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Imported on first use (PEP 562): they need torch, the registry above does not.
_LAZY = {"build_members": "loading", "load_classifier": "loading", "load_classifier_from": "loading",
         "Classifier": "classifier", "OneClassScorer": "classifier",
         "Member": "card", "ModelCard": "card", "Preprocessing": "card"}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["Classifier", "DEFAULT_MODEL", "MODELS_DIR", "Member", "ModelCard", "ModelError", "ModelIntegrityError",
           "ModelNotFoundError", "Preprocessing", "list_models", "load_classifier", "load_classifier_from",
           "sha256_file"]
