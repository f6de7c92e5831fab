"""The model card: everything needed to use a set of weights, shipped beside them.

`card.json` is read by code (preprocessing, calibration, ensemble, checksum); the
README.md beside it is the same card for people. Preprocessing lives only here: the
classifier derives its crops and normalisation from the card, never from constants."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The architecture of a card whose one member is a head on the CLIP backbone
# (synthcheck/models/clip_probe.py); every other card is a timm Lite0 network or ensemble.
CLIP_PROBE_ARCHITECTURE = "clip-vit-b16-probe"


@dataclass(frozen=True)
class Preprocessing:
    crop_size: int = 160  # square crops taken at native resolution (no global resize)
    max_grid: int = 4  # at most max_grid x max_grid crops, spread over the whole image
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # Where a lone row or column of crops sits on a larger image: "top-left" (every card
    # before this field) or "centre" (where a photo's subject usually is).
    anchor: str = "top-left"
    # Also score the global view (crops.global_view: the whole image shrunk so that its shorter
    # side is crop_size, its centre crop_size x crop_size): the image's logit is then the mean of
    # the crops' mean logit and the global view's. Cards before this field: crops only.
    global_view: bool = False


ANCHORS = ("top-left", "centre")


@dataclass(frozen=True)
class Member:
    """One scorer of the ensemble and its weight in the final logit."""

    name: str  # the member's key in the weights file (its tensors' prefix); unique in a card
    weight: float
    bias: float = 0.0  # only the first member's bias is used (the ensemble's intercept)
    # What the member is: "supervised" (a fine-tuned network, one logit per crop) or
    # "oneclass" (distance to real photos). Empty: the name says it (cards before ensembles
    # of several networks named their members by kind).
    kind: str = ""
    # What a supervised member's network reads of the crops (synthcheck/models/network.py,
    # INPUT_FILTERS): "rgb" or "npr". Cards before this field all read "rgb".
    input_filter: str = "rgb"
    # A "clip_probe" member (synthcheck/models/clip_probe.py): the pretrained backbone it reads
    # (backbones.py: name, variant, the converted graph's sha256) and which of its features.
    backbone: str = ""
    backbone_variant: str = ""
    backbone_sha256: str = ""
    features: str = ""

    @property
    def member_kind(self) -> str:
        return self.kind or self.name


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    architecture: str
    preprocessing: Preprocessing
    members: tuple[Member, ...]
    temperature: float  # applied to the ensemble logit (temperature scaling)
    threshold: float  # p_generated at or above which the classifier calls an image generated
    weights_file: str
    weights_sha256: str
    license: str = "Apache-2.0"
    training: dict[str, Any] = field(default_factory=dict)  # data manifests and hashes, recipe
    metrics: dict[str, Any] = field(default_factory=dict)  # validation results, comparison table

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        raw = json.loads(Path(path).read_text())
        raw["preprocessing"] = Preprocessing(**{k: tuple(v) if isinstance(v, list) else v
                                                for k, v in raw["preprocessing"].items()})
        raw["members"] = tuple(Member(**m) for m in raw["members"])
        return cls(**raw)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def write_card(card: ModelCard, folder: str | Path) -> None:
    """card.json and the README rendered from it."""
    card.save(Path(folder) / "card.json")
    if card.architecture == CLIP_PROBE_ARCHITECTURE:  # a head on the CLIP backbone has its own card text
        from .clip_probe import render_readme as render_clip_readme

        (Path(folder) / "README.md").write_text(render_clip_readme(card))
    else:
        (Path(folder) / "README.md").write_text(render_readme(card))


def render_readme(card: ModelCard) -> str:
    """The card for people, generated from card.json so that the two never disagree."""
    m, t, p = card.metrics, card.training, card.preprocessing

    def cell(r: dict[str, Any], key: str) -> str:
        return "—" if r.get(key) is None else str(r[key])  # older cards lack newer metrics

    def row(name: str, r: dict[str, Any]) -> str:
        return "| " + " | ".join([name] + [cell(r, k) for k in
                                           ("auc", "average_precision", "balanced_accuracy", "ece",
                                            "real_at_level_high", "n")]) + " |"

    lines = [
        f"# {card.name} {card.version}", "",
        "Detector of AI-generated pixels for synthcheck: the probability that an image was generated or "
        "AI-edited, from its pixels alone.", "",
        "## Use", "",
        "Loaded by `synthcheck.models.load_classifier(\"" + card.name + "\")` and used by `synthcheck scan`. "
        f"The weights' sha256 ({card.weights_sha256}) is checked at load.", "",
        "## Architecture and preprocessing", "",
        "- Members: " + ", ".join(f"`{x.name}` ({x.member_kind}"
                                  + ("" if x.input_filter == "rgb" else f", reads the {x.input_filter} residual")
                                  + f", weight {x.weight:.4g})" for x in card.members)
        + f"; intercept {card.members[0].bias:.4g}; temperature {card.temperature:.4g}; threshold {card.threshold}.",
        f"- A `supervised` member: timm `{card.architecture}` fine-tuned, one logit. A `oneclass` member: the "
        f"ImageNet `{card.architecture}` features' Mahalanobis distance to real photos (fitted on real photos only).",
        f"- Input: RGB, crops of {p.crop_size}x{p.crop_size} at native resolution (no resize), at most "
        f"{p.max_grid}x{p.max_grid} crops spread over the image, normalised with mean {list(p.mean)} and std "
        f"{list(p.std)}; the crop logits are averaged.", "",
        "## Training data", "",
        "- Manifests (sha256): " + ", ".join(f"`{k}` {v}" for k, v in t.get("manifests_sha256", {}).items()),
        f"- Split sizes: {t.get('split_sizes')}",
        f"- Held out for validation (whole groups): {', '.join(t.get('validation_groups', []))}",
        f"- Initialisation: {t.get('init')}",
    ]
    if "ensemble" in t:  # networks of several trained models (synthcheck/models/ensemble.py)
        lines += ["- Ensemble of trained models (`synthcheck ensemble`, config in `training.ensemble.config`); "
                  "each member's logit is scaled by its own calibration-split temperature, then averaged:"]
        lines += [f"  - `{name}` {e['version']}: trained by `synthcheck train` from config `{e['config_name']}` "
                  f"(seed {e['seed']}; in its own card), {e['steps']} steps (best at {e['best_step']}), "
                  f"{e['wall_clock_minutes']} min on {e['device']}; weights sha256 {e['weights_sha256']}, "
                  f"calibration-split temperature {e['calibration_split_temperature']}"
                  for name, e in t["ensemble"]["members"].items()]
        lines += ["- Recipe: see `synthcheck/models/train.py` and `synthcheck/models/ensemble.py`; `training.config` "
                  "is the first member's (the data and validation split every member shares).", ""]
    else:
        lines += [
            f"- Steps: {t.get('steps')} (best at {t.get('best_step')}), crops seen {t.get('crops_seen')}, "
            f"wall clock {t.get('wall_clock_minutes')} min, torch {t.get('torch')}, on {t.get('device', 'cpu')}, "
            f"{t.get('batch_stream', 'serial')} batches.",
            "- Recipe: see `synthcheck/models/train.py` and the config in card.json (`training.config`).", ""]
    lines += [
        "## Metrics (source-held-out validation split)", "",
        f"Shipped candidate: **{m.get('shipped')}**.", "",
        "| condition | AUC | AP | balanced acc. | ECE | real photos at level `high` | n |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row("clean", m.get("validation", {})), row("laundered (0.5x, JPEG 75)", m.get("validation_laundered", {})),
        "", "Per group (clean):", "", "| group | label | n | mean p | called generated |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group, g in m.get("validation_per_group", {}).items():
        lines.append(f"| {group} | {g['label']} | {g['n']} | {g['mean_p_generated']} | {g['called_generated']} |")
    lines += ["", "## Candidates compared on the same split", "",
              "| candidate | AUC clean | AUC laundered | balanced acc. clean | balanced acc. laundered "
              "| real photos at `high` | ECE clean | AUC on calibration split |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in m.get("comparison", {}).items():
        clean, laundered = c["clean"], c["laundered"]
        lines.append(f"| {name} | {clean['auc']} | {laundered['auc']} | {clean['balanced_accuracy']} "
                     f"| {laundered['balanced_accuracy']} | {cell(clean, 'real_at_level_high')} | {clean['ece']} "
                     f"| {cell(c.get('calibration_split', {}), 'auc')} |")
    if m.get("selection"):
        lines += ["", f"Selection rule: {m['selection']}"]
    lines += ["", "Candidates measured outside the training script on this split (members that need no "
              "generated training data: a DINOv2-S/14 stability test and probe, a coding-cost model of real "
              "photos; earlier recipes; ensembles of shipped networks): `models/experiments/README.md`."]
    if m.get("calibration"):
        cal = m["calibration"]
        lines += ["", "## Calibration on held-out sources", "", f"Method: {cal['method']}.", "",
                  "| scaling | balanced log-loss | ECE clean / laundered | balanced acc. clean / laundered "
                  "| real photos at `high` clean / laundered |", "| --- | --- | --- | --- | --- |"]
        for name, r in cal["comparison"].items():
            clean, laundered = r["clean"], r["laundered"]
            lines.append(f"| {name} | {r['balanced_log_loss']} | {clean['ece']} / {laundered['ece']} "
                         f"| {clean['balanced_accuracy']} / {laundered['balanced_accuracy']} "
                         f"| {clean['real_at_level_high']} / {laundered['real_at_level_high']} |")
        lines += ["", f"Chosen: **{cal['chosen']}** (temperature {cal['temperature']}, shift {cal['shift']}; "
                  f"the calibration split's temperature was {cal['calibration_split_temperature']})."]
    lines += ["", "## License", "",
              f"Weights: {card.license}. Initialised from ImageNet weights (Apache-2.0). The training images "
              "keep their own terms (ImageNet research-use terms, CC BY 4.0, Apache-2.0 and others; see the "
              "manifest): check them before any commercial use of these weights.", ""]
    return "\n".join(lines)
