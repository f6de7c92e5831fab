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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from .card import ModelCard
from .checksum import sha256_file
from .clip_probe import ClipProbeClassifier, ProbeHead
from .registry import MODELS_DIR

FACE_HEADS_DIR = MODELS_DIR / "face-heads"
DEFAULT_FACE_HEAD = "synthcheck-faces-v1"
DEFAULT_PERSON_GATE = "synthcheck-person-v1"


@dataclass(frozen=True)
class PersonGate:
    """Is a face a photographed person, or a likeness (a statue, a painting, a drawing, an
    animal)? A logistic head on the face window's features (training/person_gate.py); the
    faces check judges a face only at p_person >= the card's threshold (issue 31: the face
    head, trained on photographed faces, called a statue's face 99% generated)."""

    card: ModelCard
    head: ProbeHead

    @property
    def threshold(self) -> float:
        """From here a face is judged by the face head."""
        return self.card.threshold

    @property
    def claim_threshold(self) -> float:
        """From here a face may be said to disagree with its background (a face swap): stricter,
        set where few likenesses reach out of fold (training/person_gate.py)."""
        return float(self.card.metrics.get("leave_source_out", {}).get("claim_threshold", self.card.threshold))

    def p_person(self, crops: np.ndarray) -> float:
        """From the window's crop features [n, D] (ClipProbeClassifier.encode)."""
        z = float(np.mean(self.head(crops))) / self.card.temperature
        return float(1 / (1 + np.exp(-z)))


def list_face_heads() -> list[str]:
    return sorted(p.parent.name for p in FACE_HEADS_DIR.glob("*/card.json"))


def _load_head(name: str, base: ClipProbeClassifier, heads_dir: Path) -> tuple[ModelCard, ProbeHead]:
    """A shipped head's card and weights, checked: the weights against the card's sha256, and
    the same backbone and features as the base classifier's."""
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
    return card, ProbeHead.from_tensors(load_file(str(weights)), member.name)


def load_face_head(name: str, base: ClipProbeClassifier, heads_dir: Path = FACE_HEADS_DIR) -> ClipProbeClassifier:
    """A shipped face head on the base classifier's backbone session."""
    card, head = _load_head(name, base, heads_dir)
    return ClipProbeClassifier(card, base.encoder, head)


def load_person_gate(name: str, base: ClipProbeClassifier, heads_dir: Path = FACE_HEADS_DIR) -> PersonGate:
    return PersonGate(*_load_head(name, base, heads_dir))


def face_model_for(classifier: ClipProbeClassifier) -> ClipProbeClassifier:
    """What scores face windows for this classifier: the shipped face head on its backbone
    session (a missing or damaged one raises, and the faces check fails closed)."""
    return load_face_head(DEFAULT_FACE_HEAD, classifier)


def person_gate_for(classifier: ClipProbeClassifier) -> PersonGate:
    """The shipped person gate on the classifier's backbone (missing or damaged: raises, and
    the faces check fails closed)."""
    return load_person_gate(DEFAULT_PERSON_GATE, classifier)
