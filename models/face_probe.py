"""The face head: a second logistic head on the same frozen CLIP features as the shipped
classifier, trained on *face windows* (the faces analyzer's window rule) instead of whole
images. It shares the classifier's backbone session, so it costs no memory and no load time
beyond a few thousand floats.

    load_face_head("synthcheck-faces-v1", classifier)  # ClipProbeClassifier on face windows
    synthcheck train training/configs/faces-v1.json    # trains it (training/face_probe.py)

Why (training/experiments/README.md, "Faces"): on held-out faces the whole-image head scores
face windows about as well as whole images, but a generated face pasted into a real photo
only at AUC 0.82 / 0.66; this head, trained on untouched face windows only, reaches 0.88 /
0.76 on the same swaps (+0.06 / +0.10, paired bootstrap sd 0.03 / 0.05). Training on swaps
too was measured and refused: it learns the paste itself (it flags 47 of 74 real faces
pasted onto other real photos)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from .card import ModelCard
from .checksum import sha256_file
from .clip_probe import ClipProbeClassifier, ProbeHead
from .registry import MODELS_DIR

FACE_HEADS_DIR = MODELS_DIR / "face-heads"
DEFAULT_FACE_HEAD = "synthcheck-faces-v1"


def list_face_heads() -> list[str]:
    return sorted(p.parent.name for p in FACE_HEADS_DIR.glob("*/card.json"))


def load_face_head(name: str, base: ClipProbeClassifier, heads_dir: Path = FACE_HEADS_DIR) -> ClipProbeClassifier:
    """A shipped face head on the base classifier's backbone session (checked: the same
    backbone sha256, and the head's weights against its card)."""
    from safetensors.numpy import load_file

    folder = heads_dir / name
    if not (folder / "card.json").is_file():
        raise ModelNotFoundError(f"no face head {name!r}; shipped: {', '.join(list_face_heads()) or 'none'}")
    card = ModelCard.load(folder / "card.json")
    weights = folder / card.weights_file
    if not weights.is_file() or sha256_file(weights) != card.weights_sha256:
        raise ModelIntegrityError(f"{weights} is missing or not the file its card names (sha256): reinstall it")
    member = card.members[0]
    if member.backbone_sha256 != base.encoder.sha256 or member.features != base.member.features:
        raise ModelError(f"face head {name} reads another backbone or features than {base.card.name}")
    return ClipProbeClassifier(card, base.encoder, ProbeHead.from_tensors(load_file(str(weights)), member.name))


def face_model_for(classifier: ClipProbeClassifier) -> ClipProbeClassifier:
    """What scores face windows for this classifier: the shipped face head on its backbone
    session (a missing or damaged one raises, and the faces check fails closed)."""
    return load_face_head(DEFAULT_FACE_HEAD, classifier)
