"""Loading a model folder: the card, the weights checked against its sha256, and the
scorer. A CLIP card (the shipped models) loads with ONNX Runtime and numpy only; a Lite0
card rebuilds each member network with its batch norms folded, and only then imports
torch, so that scanning with a CLIP model never pays torch's import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from . import DEFAULT_MODEL, MODELS_DIR, inference_threads, list_models, sha256_file
from .card import CLIP_PROBE_ARCHITECTURE, ModelCard
from .clip_probe import load_clip_probe

if TYPE_CHECKING:
    import torch


def build_members(card: ModelCard, tensors: dict[str, torch.Tensor]) -> dict[str, torch.nn.Module]:
    """Rebuild each ensemble member from the flat safetensors dict (prefix = member name),
    batch norms folded for inference."""
    from .classifier import OneClassScorer
    from .network import INPUT_FILTERS, create_network, fold_batch_norms, with_input_filter

    def sub(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1 :]: v.float() for k, v in tensors.items() if k.startswith(prefix + ".")}

    members: dict[str, torch.nn.Module] = {}
    for member in card.members:
        if member.member_kind == "supervised":
            if member.input_filter not in INPUT_FILTERS:
                raise ModelError(f"model card {card.name}: member {member.name!r} reads its crops through an "
                                 f"unknown input filter {member.input_filter!r}")
            network = create_network(num_classes=1)
            network.load_state_dict(sub(member.name))
            members[member.name] = with_input_filter(fold_batch_norms(network), member.input_filter)
        elif member.member_kind == "oneclass":
            features = create_network(num_classes=0)
            features.load_state_dict(sub(f"{member.name}.features"))
            members[member.name] = OneClassScorer(fold_batch_norms(features), tensors[f"{member.name}.mean"].float(),
                                                  tensors[f"{member.name}.precision"].float()).eval()
        else:
            raise ModelError(f"model card {card.name} names a member {member.name!r} of unknown kind "
                             f"{member.member_kind!r}")
    return members


def load_classifier_from(folder: str | Path) -> Any:
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise ModelNotFoundError(f"no model card at {card_path}")
    card = ModelCard.load(card_path)
    weights = folder / card.weights_file
    if not weights.is_file():
        raise ModelNotFoundError(f"the weights {weights} named by the card are missing")
    actual = sha256_file(weights)
    if actual != card.weights_sha256:
        raise ModelIntegrityError(
            f"{weights} has sha256 {actual}, but its model card expects {card.weights_sha256}: "
            "the weights were changed or damaged; reinstall or retrain them")
    if card.architecture == CLIP_PROBE_ARCHITECTURE:  # a head on the CLIP backbone (ONNX Runtime)
        return load_clip_probe(card, weights)
    import torch
    from safetensors.torch import load_file

    from .classifier import Classifier

    torch.set_num_threads(inference_threads())
    return Classifier(card=card, members=build_members(card, load_file(str(weights))))


@lru_cache(maxsize=4)
def load_classifier(name: str = DEFAULT_MODEL) -> Any:
    """A shipped classifier by name, loaded once per process: a `Classifier` (Lite0, torch)
    or a `ClipProbeClassifier` (ONNX Runtime); both predict, mean_logit and carry the card."""
    if name not in list_models():
        raise ModelNotFoundError(f"no shipped model named {name!r}; shipped: {', '.join(list_models()) or 'none'}")
    return load_classifier_from(MODELS_DIR / name)
