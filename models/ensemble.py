"""Ensembles of trained networks: one model card whose members are the fine-tuned networks of
several trained models, and whose logit is the mean of their calibrated logits.

Why: networks trained with other recipes or seeds err on different images (v9 and v12 in
models/experiments/README.md), and the mean of their logits ranks unseen sources better than
either. `synthcheck ensemble CONFIG` builds one from trained models (shipped names or folders):

1. each member's logit is scaled by the temperature fitted on its own calibration split
   (held-out files of the training sources), never by a scaling fitted on the validation
   groups, which would leak them into step 3's measurement;
2. every member alone and the mean of all are scored on the members' shared source-held-out
   validation split, clean and laundered, and the training script's selection rule picks
   what ships (a network beyond the first must buy its forward pass);
3. the chosen candidate is calibrated as one model on held-out sources (calibrate.py,
   cross-fitted), when the config asks for it.

The members' weights are copied unchanged (same bytes), so the folder stands alone and its
sha256 covers every network. Reproduce: train each member from its own config (the member
cards record them), then this."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import MODELS_DIR, build_members, list_models, load_classifier_from, sha256_file
from .calibrate import CURRENT, Scaling, calibrate, choose_scaling, compare_scalings
from .card import CLIP_PROBE_ARCHITECTURE, Member, ModelCard, write_card
from .classifier import Classifier, ensemble_logit
from .evaluate import per_group_table, summary_metrics
from .train import SELECTION_RULE, TrainConfig, gather_records, score_records, select_candidate, sigmoid

CALIBRATIONS = ("calibration_split", "held_out_sources")
MEAN_OF_ALL = "mean of the members' calibrated logits"


@dataclass(frozen=True)
class EnsembleConfig:
    name: str
    version: str
    models: tuple[str, ...]  # trained models: shipped names, or folders holding card.json
    # "held_out_sources": the chosen candidate is calibrated on the validation split's unseen
    # sources (cross-fitted, see calibrate.py); "calibration_split": the members' own
    # calibration-split temperatures are kept.
    calibration: str = "held_out_sources"
    out_dir: str = ""

    @classmethod
    def load(cls, path: str | Path) -> EnsembleConfig:
        raw = json.loads(Path(path).read_text())
        config = cls(**{**raw, "models": tuple(raw["models"])})
        if len(config.models) < 2:
            raise ValueError("an ensemble needs at least two models")
        if config.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not {config.calibration!r}")
        return config


def model_folder(model: str) -> Path:
    """A shipped model's folder, or the folder given."""
    return MODELS_DIR / model if model in list_models() else Path(model)


def calibration_split_temperature(card: ModelCard) -> float:
    """The temperature fitted on the card's calibration split (training sources' unseen files),
    even where a scaling fitted on the validation groups replaced it in the card."""
    return float(card.metrics.get("calibration", {}).get("calibration_split_temperature", card.temperature))


def check_members(cards: list[ModelCard]) -> None:
    """Members must be single fine-tuned networks with the same preprocessing, trained on the
    same data with the same validation split (else one may have trained on groups that
    measure the other)."""
    names = [card.name for card in cards]
    if len(set(names)) != len(names) or any("." in name for name in names):
        raise ValueError(f"members need distinct names without dots (their weights' prefixes): {names}")
    for card in cards:
        if card.architecture == CLIP_PROBE_ARCHITECTURE:
            # measured before it was built: the CLIP head with Lite0 v13's calibrated logit
            # (weights 0.75/0.25 and 0.5/0.5) never beat the CLIP head alone
            # (models/experiments/clip_v2.py, experiments README), so no mixed ensemble ships
            raise ValueError(f"{card.name} is a CLIP probe: ensembles combine fine-tuned Lite0 networks of one "
                             "preprocessing (a CLIP + Lite0 mix was measured and did not beat the CLIP head alone; "
                             "see models/experiments/README.md)")
        if [m.member_kind for m in card.members] != ["supervised"]:
            raise ValueError(f"{card.name} is not a single fine-tuned network (members: "
                             f"{[m.name for m in card.members]})")
    first = cards[0]
    split_keys = ("data", "validation_groups", "calibration_fraction")
    for card in cards[1:]:
        if card.architecture != first.architecture or card.preprocessing != first.preprocessing:
            raise ValueError(f"{card.name} and {first.name} differ in architecture or preprocessing")
        a, b = first.training.get("config", {}), card.training.get("config", {})
        if any(a.get(k) != b.get(k) for k in split_keys):
            raise ValueError(f"{card.name} and {first.name} were trained on different data or splits")


def compare_candidate(logits: dict[str, np.ndarray], labels: np.ndarray, groups: list[str],
                      calibration: str) -> dict[str, Any]:
    """A candidate's validation metrics, clean and laundered, at the scaling it would ship with:
    with "held_out_sources", the one calibrate.py would choose (its metrics cross-fitted), so
    that candidates are compared as calibrated models and none loses on a threshold offset
    that calibration removes; else its members' calibration-split temperatures."""
    current = Scaling(1.0)  # the members' weights already hold their temperatures
    if calibration != "held_out_sources":
        return {"scaling": CURRENT, **{c: summary_metrics(labels, current.apply(z), 0.5) for c, z in logits.items()}}
    results, _ = compare_scalings(logits["clean"], logits["laundered"], labels, groups, current, 0.5)
    scaling = choose_scaling(results)
    return {"scaling": scaling, "clean": results[scaling]["clean"], "laundered": results[scaling]["laundered"],
            "balanced_log_loss": results[scaling]["balanced_log_loss"]}


def build(config_path: str | Path, out_dir: str | Path | None = None, log=print) -> Path:
    """Combine, compare, select, calibrate and write the ensemble's folder."""
    config = EnsembleConfig.load(config_path)
    folders = [model_folder(m) for m in config.models]
    sources = [load_classifier_from(folder) for folder in folders]  # checks each member's sha256
    cards = [source.card for source in sources]
    check_members(cards)
    n = len(cards)
    all_members = tuple(Member(name=card.name, kind="supervised", input_filter=card.members[0].input_filter,
                               weight=round(card.members[0].weight / (n * calibration_split_temperature(card)), 6))
                        for card in cards)
    tensors: dict[str, torch.Tensor] = {}
    for folder, card in zip(folders, cards):
        prefix = card.members[0].name + "."
        tensors |= {card.name + "." + k[len(prefix):]: v
                    for k, v in load_file(str(folder / card.weights_file)).items() if k.startswith(prefix)}

    first = cards[0]
    validation = gather_records(TrainConfig.from_dict(first.training["config"]))["validation"]
    labels = np.array([r.label for r in validation])
    draft = ModelCard(name=config.name, version=config.version, architecture=first.architecture,
                      preprocessing=first.preprocessing, members=all_members, temperature=1.0, threshold=0.5,
                      weights_file="model.safetensors", weights_sha256="")
    networks = build_members(draft, tensors)
    log(f"scoring {len(validation)} validation images with {len(networks)} networks, clean and laundered")
    scores = {condition: score_records(networks, validation, first.preprocessing, laundered=condition == "laundered")
              for condition in ("clean", "laundered")}

    candidates = {f"{m.name} alone": (replace(m, weight=m.weight * n),) for m in all_members}
    candidates[MEAN_OF_ALL] = all_members
    logits = {label: {c: ensemble_logit(members, scores[c]) for c in ("clean", "laundered")}
              for label, members in candidates.items()}
    comparison = {label: compare_candidate(logits[label], labels, [r.group for r in validation], config.calibration)
                  for label in candidates}
    for label, result in comparison.items():
        log(f"{label}, {result['scaling']}: {result['clean']} / laundered {result['laundered']}")
    chosen = select_candidate(comparison, {label: len(m) for label, m in candidates.items()})
    members = candidates[chosen]
    log(f"chosen: {chosen}")

    out = Path(out_dir or config.out_dir or MODELS_DIR / config.name)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    kept = tuple(m.name + "." for m in members)
    save_file({k: v.contiguous() for k, v in tensors.items() if k.startswith(kept)}, str(weights))
    card = ModelCard(
        name=config.name, version=config.version, architecture=first.architecture,
        preprocessing=first.preprocessing, members=members, temperature=1.0, threshold=0.5,
        weights_file=weights.name, weights_sha256=sha256_file(weights), license=first.license,
        training=ensemble_training(config, config_path, cards),
        metrics={"shipped": chosen, "selection": SELECTION_RULE, "validation": comparison[chosen]["clean"],
                 "validation_laundered": comparison[chosen]["laundered"],
                 "validation_per_group": per_group_table(validation, sigmoid(logits[chosen]["clean"]), 0.5),
                 "comparison": comparison})
    write_card(card, out)
    if config.calibration == "held_out_sources":
        log("calibrating on the held-out sources of the validation split")
        scored = Classifier(card=card, members=networks)  # the networks already scored the split
        write_card(calibrate(scored, validation, log=log,
                             logits=(logits[chosen]["clean"], logits[chosen]["laundered"])), out)
    log(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {out / 'card.json'}; shipped: {chosen}")
    return out


def ensemble_training(config: EnsembleConfig, config_path: str | Path, cards: list[ModelCard]) -> dict[str, Any]:
    """The card's training record: `config` is the first member's training config (every
    member's data and validation split; `eval` and `calibrate` rebuild the split from it),
    `ensemble` says where each member came from and how to retrain it."""
    first = cards[0].training
    return {"config": first["config"], "manifests_sha256": first.get("manifests_sha256", {}),
            "split_sizes": first.get("split_sizes"), "validation_groups": first.get("validation_groups", []),
            "init": first.get("init"), "torch": torch.__version__,
            "ensemble": {"config": json.loads(Path(config_path).read_text()), "members": {
                card.name: {"source": str(model), "version": card.version, "weights_sha256": card.weights_sha256,
                            "calibration_split_temperature": calibration_split_temperature(card),
                            "config_name": card.training["config"].get("name"),
                            "seed": card.training["config"].get("seed", 0),
                            **{k: card.training.get(k) for k in ("steps", "best_step", "wall_clock_minutes", "device")}}
                for model, card in zip(config.models, cards)}}}
