"""A frozen CLIP ViT-B/16 (the `clip-vit-b16` backbone of `synthcheck setup`) with a
logistic head, on both corpora, measured on a source-held-out split against v13.

    synthcheck setup                                   # the backbone, once
    python models/experiments/clip_probe.py [--variant int8|float] [--crops centre|grid]

Features (cached under ~/.cache/synthcheck/features/): for each image and its laundered
copy (0.5x + JPEG 75, as `synthcheck eval`), the final 512-d embedding and the CLS token of
each of the 12 blocks (RINE-style), from 224x224 crops at native resolution (padded by
reflection when smaller; never resized). `centre`: one centre crop; `grid`: up to 3x3
crops over the whole image, features averaged. Training images enter clean and laundered
(random 0.4-0.6x, JPEG 60-85), so the head sees both regimes.

Split (both corpora; whole sources held out): v13's validation groups (nano-banana and
nano-banana-pro of ../shared/data, qwen-image, photoprism, 11 camera makes), the Nano Banana
Pro posts of data-modern, GPT Image 2 cases 7, 12, 19, 31 (split by case: one scene has
several outputs), every phone make of data-modern (apple, samsung, huawei, xiaomi, oneplus,
vivo, motorola, nokia), and half of the deepface faces and of the SROIE receipts (by file
hash: each is a single source). The temperature is fitted on a calibration share of the
training sources (15% of files)."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from synthcheck.datasets.records import ImageRecord, load_manifest, load_pixels
from synthcheck.models.backbones import backbone_file
from synthcheck.models.metrics import auc, balanced_accuracy, expected_calibration_error, launder

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32).reshape(3, 1, 1)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32).reshape(3, 1, 1)
V13_GROUPS = ["nano-banana:", "yetter:qwen-image", "photoprism:"] + [
    f"camera:{m}" for m in ("fujifilm", "panasonic", "olympus", "apple", "samsung", "htc", "casio", "nokia",
                            "ricoh", "leica", "pentax")]
PHONES = {"apple", "samsung", "huawei", "xiaomi", "oneplus", "vivo", "motorola", "nokia"}
GPT2_HELD_OUT_CASES = {"Case7", "Case12", "Case19", "Case31"}
# p at or above which the classifier alone takes an image to `high` under the default policy
# (prior 0.2, high from 0.85, the classifier's weight capped at +-4).
P_HIGH = 1 / (1 + np.exp(-(np.log(0.85 / 0.15) - np.log(0.2 / 0.8))))


def _hash_fraction(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def case_of(record: ImageRecord, notes: dict[str, str]) -> str:
    match = re.search(r"Case\d+", notes.get(record.content_key, ""))
    return match.group(0) if match else "-"


def group_of(record: ImageRecord, modern: bool, notes: dict[str, str]) -> str:
    if modern and record.generator == "gpt-image-2":
        return f"gpt-image-2:{case_of(record, notes)}"
    if modern and record.label == 0 and record.source in ("deepface", "sroie"):
        return f"{record.source}:{'a' if _hash_fraction(record.content_key) < 0.5 else 'b'}"
    if modern and record.label == 0 and record.generator in PHONES:
        return f"phone:{record.generator}"
    return ("modern/" if modern else "") + record.group


def held_out(record: ImageRecord, modern: bool, notes: dict[str, str]) -> bool:
    group = record.group
    if not modern:
        return any(group == g or (g.endswith(":") and group.startswith(g)) for g in V13_GROUPS)
    if record.label == 1:
        return record.generator == "nano-banana-pro" or case_of(record, notes) in GPT2_HELD_OUT_CASES
    if record.source in ("deepface", "sroie"):
        return _hash_fraction(record.content_key) < 0.5
    return record.generator in PHONES


def records_and_split() -> tuple[list[dict], list[dict], list[dict]]:
    split: dict[str, list[dict]] = {"train": [], "calibration": [], "validation": []}
    for root, modern in ((SHARED / "data", False), (SHARED / "data-modern", True)):
        import csv

        with (root / "manifest.csv").open(newline="") as f:
            notes = {row["path"]: row.get("note") or "" for row in csv.DictReader(f)}
        for record in load_manifest(root):
            item = {"record": record, "group": group_of(record, modern, notes), "modern": modern}
            if held_out(record, modern, notes):
                split["validation"].append(item)
            elif _hash_fraction("cal:" + record.content_key + str(record.tile)) < 0.15:
                split["calibration"].append(item)
            else:
                split["train"].append(item)
    return split["train"], split["calibration"], split["validation"]


def crops_of(rgb: np.ndarray, mode: str) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h < 224 or w < 224:
        rgb = np.pad(rgb, ((0, max(0, 224 - h)), (0, max(0, 224 - w)), (0, 0)),
                     mode="reflect" if min(h, w) > 1 else "edge")
        h, w = rgb.shape[:2]
    if mode == "centre":
        corners = [((h - 224) // 2, (w - 224) // 2)]
    else:
        rows, cols = min(3, -(-h // 224)), min(3, -(-w // 224))
        corners = [(int(y), int(x)) for y in np.linspace(0, h - 224, rows).round()
                   for x in np.linspace(0, w - 224, cols).round()]
    batch = np.stack([rgb[y : y + 224, x : x + 224] for y, x in corners]).astype(np.float32) / 255
    return (batch.transpose(0, 3, 1, 2) - CLIP_MEAN) / CLIP_STD


class Encoder:
    """The backbone's ONNX graph with the CLS token of every block as extra outputs."""

    def __init__(self, variant: str, threads: int = 2):
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(backbone_file("clip-vit-b16", variant)))
        names = [f"/vision_model/encoder/layers.{i}/Add_1_output_0" for i in range(11)]
        last = model.graph.output[1].name  # the last block's hidden states
        for name in names:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        self.outputs = ["image_embeds", *names, last]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = self.session.run(self.outputs, {"pixel_values": batch.astype(np.float32)})
        return {"embed": out[0].mean(0), "cls": np.stack([o[:, 0, :].mean(0) for o in out[1:]])}


def features(items: list[dict], encoder: Encoder, mode: str, train: bool, cache: Path) -> dict[str, np.ndarray]:
    """Clean and laundered features of each item (laundering random for training items)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {"embed": [], "cls": [], "embed_l": [], "cls_l": []}
    started = time.time()
    for n, item in enumerate(items):
        record = item["record"]
        key = hashlib.sha256(f"{record.path}#{record.tile}#{mode}#{train}".encode()).hexdigest()[:24]
        path = cache / f"{key}.npz"
        if path.exists():
            saved = np.load(path)
        else:
            rgb = load_pixels(record)
            rng = random.Random(key)
            scale, quality = (rng.uniform(0.4, 0.6), rng.randint(60, 85)) if train else (0.5, 75)
            clean, laundered = encoder(crops_of(rgb, mode)), encoder(crops_of(launder(rgb, scale, quality), mode))
            saved = {"embed": clean["embed"], "cls": clean["cls"], "embed_l": laundered["embed"],
                     "cls_l": laundered["cls"]}
            np.savez(path, **saved)
        for k in out:
            out[k].append(saved[k])
        if n % 200 == 0:
            print(f"  {n}/{len(items)} images, {time.time() - started:.0f} s", flush=True)
    return {k: np.stack(v) for k, v in out.items()}


def fit_logistic(x: np.ndarray, y: np.ndarray, weight_decay: float, groups: list[str]) -> tuple[np.ndarray, float, tuple]:
    """L2 logistic regression on standardised features, classes and groups weighted equally."""
    import torch

    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / std, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    counts = defaultdict(int)
    for g in groups:
        counts[g] += 1
    w = np.array([1.0 / counts[g] for g in groups])
    for label in (0, 1):
        w[y == label] /= w[y == label].sum()
    wt = torch.tensor(w, dtype=torch.float64)
    coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([coef, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        logits = xt @ coef + bias
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")).sum()
        loss = loss + weight_decay * (coef ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return coef.detach().numpy(), float(bias.detach()), (mean, std)


def logits_of(x: np.ndarray, head: tuple) -> np.ndarray:
    coef, bias, (mean, std) = head
    return ((x - mean) / std) @ coef + bias


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best = min(np.linspace(0.2, 5, 97), key=lambda t: _log_loss(logits / t, y))
    return float(best)


def _log_loss(logits: np.ndarray, y: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-logits))
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def report(name: str, y: np.ndarray, p: np.ndarray, p_l: np.ndarray, groups: list[str]) -> dict:
    row = {"candidate": name, "auc_clean": auc(y, p), "auc_laundered": auc(y, p_l),
           "bal_acc_clean": balanced_accuracy(y, p, 0.5), "bal_acc_laundered": balanced_accuracy(y, p_l, 0.5),
           "ece_clean": expected_calibration_error(y, p), "ece_laundered": expected_calibration_error(y, p_l),
           "real_at_high_clean": float(np.mean(p[y == 0] >= P_HIGH)),
           "real_at_high_laundered": float(np.mean(p_l[y == 0] >= P_HIGH))}
    per_group = defaultdict(list)
    for g, a, b, label in zip(groups, p, p_l, y):
        per_group[g].append((a, b, label))
    row["groups"] = {g: {"n": len(v), "label": int(v[0][2]), "mean_p_clean": float(np.mean([a for a, _, _ in v])),
                         "mean_p_laundered": float(np.mean([b for _, b, _ in v]))} for g, v in sorted(per_group.items())}
    return row


def v13_scores(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from synthcheck.models import load_classifier

    classifier = load_classifier("synthcheck-lite0-v13")
    clean, laundered = [], []
    for item in items:
        rgb = load_pixels(item["record"])
        clean.append(classifier.predict(rgb).p_generated)
        laundered.append(classifier.predict(launder(rgb, 0.5, 75)).p_generated)
    return np.array(clean), np.array(laundered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=("int8", "float"), default="int8")
    parser.add_argument("--crops", choices=("centre", "grid"), default="centre")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--no-v13", action="store_true", help="skip scoring v13 on the same split")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    train, calibration, validation = records_and_split()
    print(f"split: {len(train)} train, {len(calibration)} calibration, {len(validation)} validation")
    encoder = Encoder(args.variant)
    cache = Path.home() / ".cache" / "synthcheck" / "features" / f"clip-vit-b16-{args.variant}"
    f_train = features(train, encoder, args.crops, True, cache)
    f_cal = features(calibration, encoder, args.crops, False, cache)
    f_val = features(validation, encoder, args.crops, False, cache)
    y_train = np.array([i["record"].label for i in train], float)
    y_cal = np.array([i["record"].label for i in calibration], float)
    y_val = np.array([i["record"].label for i in validation], float)
    g_train = [i["group"] for i in train]
    g_val = [i["group"] for i in validation]
    rows = []
    for feature in ("embed", "cls", "embed+cls"):
        def take(f: dict, laundered: bool) -> np.ndarray:
            suffix = "_l" if laundered else ""
            parts = []
            if "embed" in feature:
                parts.append(f["embed" + suffix])
            if "cls" in feature:
                parts.append(f["cls" + suffix].reshape(len(f["cls" + suffix]), -1))
            return np.concatenate(parts, 1)

        x = np.concatenate([take(f_train, False), take(f_train, True)])
        y = np.concatenate([y_train, y_train])
        head = fit_logistic(x, y, args.weight_decay, g_train + g_train)
        cal_logits = np.concatenate([logits_of(take(f_cal, False), head), logits_of(take(f_cal, True), head)])
        temperature = fit_temperature(cal_logits, np.concatenate([y_cal, y_cal]))
        p = 1 / (1 + np.exp(-logits_of(take(f_val, False), head) / temperature))
        p_l = 1 / (1 + np.exp(-logits_of(take(f_val, True), head) / temperature))
        rows.append(report(f"clip {args.variant} {args.crops} {feature} (T={temperature:.2f})", y_val, p, p_l, g_val))
    if not args.no_v13:
        p, p_l = v13_scores(validation)
        rows.append(report("synthcheck-lite0-v13", y_val, p, p_l, g_val))
    print(f"\n{'candidate':<44} {'AUC clean':>9} {'AUC laund':>9} {'bacc c/l':>11} {'ECE c/l':>11} {'real@high c/l':>14}")
    for r in rows:
        print(f"{r['candidate']:<44} {r['auc_clean']:>9.3f} {r['auc_laundered']:>9.3f} "
              f"{r['bal_acc_clean']:.3f}/{r['bal_acc_laundered']:.3f} {r['ece_clean']:.3f}/{r['ece_laundered']:.3f} "
              f"{r['real_at_high_clean']:.3f}/{r['real_at_high_laundered']:.3f}")
    print("\nmean p by validation group (clean / laundered):")
    names = [r["candidate"].split(" (")[0] for r in rows]
    print(f"{'group':<52} {'n':>4} " + " ".join(f"{n[-18:]:>18}" for n in names))
    for g in rows[0]["groups"]:
        cells = " ".join(f"{r['groups'][g]['mean_p_clean']:>8.2f}/{r['groups'][g]['mean_p_laundered']:<9.2f}" for r in rows)
        info = rows[0]["groups"][g]
        print(f"{g[:44] + (' (gen)' if info['label'] else ' (real)'):<52} {info['n']:>4} {cells}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
