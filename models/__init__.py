"""Model registry: the shipped classifiers, each a folder `models/<name>/` holding
`model.safetensors` and its card (`card.json` for code, README.md for people). This package
is what analysis needs and nothing else: it never imports training code or torch
(training/ trains what ships here).

    list_models()            -> names of the shipped models
    load_classifier(name)    -> a ready classifier (weights checked against the card's sha256)
    MODEL_KINDS              -> card architecture -> loader: the one table of kinds

    registry.py    which models ship, the default, the table of kinds, loading (checked)
    card.py        the model card (preprocessing, members, temperature, checksum)
    clip_probe.py  the CLIP backbone session and the head on its features
    face_probe.py  the face head the faces check scores windows with
    crops.py       where the crops and the global view come from
    backbones.py   `synthcheck setup`: the pretrained backbone, fetched, checked, converted
    faces.py       the face detector (`synthcheck setup` fetches it too)
    checksum.py, threads.py   the sha256 of a file; threads per forward pass
"""

from __future__ import annotations

from ..errors import ModelError, ModelIntegrityError, ModelNotFoundError
from ..lazy import lazy_getattr

# Each name from the module that defines it, imported on first use (PEP 562): the registry
# opens numpy and the card, and `synthcheck --help` imports none of it.
_LAZY = {"DEFAULT_MODEL": "registry", "MODELS_DIR": "registry", "MODEL_KINDS": "registry",
         "check_available": "registry", "list_models": "registry", "load_classifier": "registry",
         "load_classifier_from": "registry", "resolve": "registry", "_version_order": "registry",
         "sha256_file": "checksum", "inference_threads": "threads", "set_inference_threads": "threads",
         "ClipProbeClassifier": "clip_probe", "Member": "card", "ModelCard": "card", "Preprocessing": "card"}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["ClipProbeClassifier", "DEFAULT_MODEL", "MODELS_DIR", "MODEL_KINDS", "Member", "ModelCard", "ModelError",
           "ModelIntegrityError", "ModelNotFoundError", "Preprocessing", "check_available", "list_models",
           "load_classifier", "inference_threads", "load_classifier_from", "resolve", "set_inference_threads",
           "sha256_file"]
