"""The registry of shipped models: which exist (a folder `models/<name>/` with card.json and
the weights it names), which is the default, the one table of model kinds, and loading one
with its weights checked against the card. Every shipped card is a head on the CLIP
backbone, run by ONNX Runtime and numpy (never torch)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from .card import CLIP_PROBE_ARCHITECTURE, ModelCard
from .checksum import sha256_file
from .clip_probe import ClipProbeClassifier, load_clip_probe

MODELS_DIR = Path(__file__).resolve().parent  # models/: each shipped model a folder here
DEFAULT_MODEL = "synthcheck-clip-v7"


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

    for member in ModelCard.load(models_dir / name / "card.json").members:
        if member.backbone:  # set up, and its prepared graph written here rather than by each worker
            ensure_prepared(member.backbone, member.backbone_variant)
    if faces:
        from .faces import detector_file

        detector_file()


# The one table of model kinds (as timm's registry): a card's `architecture` -> what loads its
# weights into a scorer with `predict`, `mean_logit` and `card`. A new kind is a new row here,
# never an if/else over kinds elsewhere.
MODEL_KINDS: dict[str, Callable[[ModelCard, Path], ClipProbeClassifier]] = {
    CLIP_PROBE_ARCHITECTURE: load_clip_probe,
}


def load_classifier_from(folder: str | Path) -> ClipProbeClassifier:
    """The scorer of the model in `folder` (card.json and the weights it names), its weights
    checked against the card's sha256 first."""
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise ModelNotFoundError(f"no model card at {card_path}")
    card = ModelCard.load(card_path)
    loader = MODEL_KINDS.get(card.architecture)
    if loader is None:
        raise ModelError(f"model card {card.name} is of kind {card.architecture!r}, which this synthcheck cannot load "
                         f"(it loads: {', '.join(MODEL_KINDS)}); the retired kinds are rebuilt from the project's "
                         "history (training/experiments/README.md)")
    weights = folder / card.weights_file
    if not weights.is_file():
        raise ModelNotFoundError(f"the weights {weights} named by the card are missing")
    actual = sha256_file(weights)
    if actual != card.weights_sha256:
        raise ModelIntegrityError(
            f"{weights} has sha256 {actual}, but its model card expects {card.weights_sha256}: "
            "the weights were changed or damaged; reinstall or retrain them")
    return loader(card, weights)


@lru_cache(maxsize=4)
def load_classifier(name: str = DEFAULT_MODEL) -> ClipProbeClassifier:
    """A shipped classifier by name, loaded once per process."""
    if name not in list_models():
        raise ModelNotFoundError(f"no shipped model named {name!r}; shipped: {', '.join(list_models()) or 'none'}")
    return load_classifier_from(MODELS_DIR / name)
