"""Experiment (not shipped): a coding-cost model of real photos as a member that needs no
generated training data, on the source-held-out split.

The idea (after ZED, Cozzolino et al., ECCV 2024): a lossless coder fitted to real photos
expects a certain coding cost for each pixel given its causal neighbourhood; generated images
are often more predictable than that model expects. Here the coder is deliberately small:
  - luma, at three scales (native, 1/2, 1/4 by area averaging), centre crop of at most
    1024x1024 at native resolution;
  - prediction: least squares on six causal neighbours (W, N, NW, NE, WW, NN), fitted on
    real training photos only;
  - residual model: Laplace, with its scale looked up from 16 bins of local activity
    (sum of causal gradients), fitted on the same real photos.
Per image and scale: D = mean(|r| / b - 1), the gap in nats between the actual coding cost
and the cost the model expects (its entropy), and the mean coding cost NLL. The training-free
score is -D at native scale (lower cost than expected = generated). For reference it also fits
(a) a logistic regression on the six numbers with generated training images (not
training-free) and (b) the default classifier's logit stacked with the six numbers, fitted on
the calibration split, to see whether they add anything to the shipped model.

    python models/experiments/coding_cost_probe.py [--config models/configs/lite0-v13.json]

About 15 minutes on 2 CPU cores. Results are in models/experiments/README.md."""

from __future__ import annotations

import argparse
import random
import time

import cv2
import numpy as np

from synthcheck.datasets import ImageRecord, load_pixels
from synthcheck.models import load_classifier
from synthcheck.models.evaluate import evaluation_pixels
from synthcheck.models.metrics import auc
from synthcheck.models.train import TrainConfig, fit_logistic, gather_records

SCALES = 3
BINS = 16
MAX_SIDE = 1024


def luma_pyramid(rgb: np.ndarray) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    rgb = rgb[y0:y0 + MAX_SIDE, x0:x0 + MAX_SIDE]
    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    levels = [luma]
    for _ in range(SCALES - 1):
        prev = levels[-1]
        levels.append(cv2.resize(prev, (max(8, prev.shape[1] // 2), max(8, prev.shape[0] // 2)),
                                 interpolation=cv2.INTER_AREA))
    return levels


def context(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel, causal neighbours [n, 6], activity) for every pixel with a full neighbourhood."""
    c = y[2:, 2:-1]
    w, ww = y[2:, 1:-2], y[2:, :-3]
    n, nn = y[1:-1, 2:-1], y[:-2, 2:-1]
    nw, ne = y[1:-1, 1:-2], y[1:-1, 3:]
    neighbours = np.stack([w, n, nw, ne, ww, nn], -1).reshape(-1, 6)
    activity = (np.abs(w - ww) + np.abs(n - nn) + np.abs(w - nw) + np.abs(n - nw) + np.abs(ne - n)).reshape(-1)
    return c.reshape(-1), neighbours, np.log1p(activity)


class RealCoder:
    """Per scale: predictor coefficients, activity bin edges and Laplace scale per bin."""

    def __init__(self, photos: list[np.ndarray], pixels_per_image: int = 20000, seed: int = 0):
        rng = np.random.default_rng(seed)
        samples: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(SCALES)]
        for rgb in photos:
            for s, y in enumerate(luma_pyramid(rgb)):
                target, nb, act = context(y)
                pick = rng.choice(len(target), min(pixels_per_image, len(target)), replace=False)
                samples[s].append((target[pick], nb[pick], act[pick]))
        self.coef, self.edges, self.scale = [], [], []
        for per_scale in samples:
            target = np.concatenate([t for t, _, _ in per_scale]).astype(np.float64)
            nb = np.concatenate([n for _, n, _ in per_scale]).astype(np.float64)
            act = np.concatenate([a for _, _, a in per_scale])
            design = np.column_stack([nb, np.ones(len(nb))])
            coef = np.linalg.lstsq(design, target, rcond=None)[0]
            residual = np.abs(target - design @ coef)
            edges = np.quantile(act, np.linspace(0, 1, BINS + 1)[1:-1])
            which = np.digitize(act, edges)
            scale = np.array([max(residual[which == k].mean(), 0.05) for k in range(BINS)])
            self.coef.append(coef)
            self.edges.append(edges)
            self.scale.append(scale)

    def features(self, rgb: np.ndarray) -> np.ndarray:
        """[D per scale, NLL per scale] in nats per pixel."""
        gaps, costs = [], []
        for s, y in enumerate(luma_pyramid(rgb)):
            target, nb, act = context(y)
            residual = np.abs(target - nb @ self.coef[s][:6].astype(np.float32) - self.coef[s][6])
            b = self.scale[s][np.digitize(act, self.edges[s])]
            ratio = residual / b
            gaps.append(float(np.mean(ratio - 1)))
            costs.append(float(np.mean(np.log(2 * b) + ratio)))
        return np.array(gaps + costs)


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-9
    return [(x - mu) / sd for x in (train, *others)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="models/configs/lite0-v13.json")
    parser.add_argument("--fit-photos", type=int, default=200, help="real training photos the coder is fitted on")
    parser.add_argument("--train-sample", type=int, default=600, help="training images for the supervised reference")
    args = parser.parse_args()
    started = time.monotonic()
    splits = gather_records(TrainConfig.load(args.config))
    rng = random.Random(0)
    photos = [r for r in splits["train"] if r.label == 0 and r.source != "aligned"]
    coder = RealCoder([load_pixels(r) for r in rng.sample(photos, min(args.fit_photos, len(photos)))])
    print(f"coder fitted on {min(args.fit_photos, len(photos))} real photos in {time.monotonic() - started:.0f} s")
    for s in range(SCALES):
        print(f"  scale 1/{2 ** s}: coefficients {np.round(coder.coef[s], 3).tolist()}")

    classifier = load_classifier()
    train_sample = rng.sample(splits["train"], min(args.train_sample, len(splits["train"])))

    def table(records: list[ImageRecord], laundered: bool,
              with_logit: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        feats, logits = [], []
        for r in records:
            rgb = evaluation_pixels(r, laundered)
            feats.append(coder.features(rgb))
            logits.append(classifier.mean_logit(rgb) / classifier.card.temperature if with_logit else 0.0)
        return np.array([r.label for r in records]), np.array(feats), np.array(logits)

    y_tr, f_tr, _ = table(train_sample, False, False)
    y_cal, f_cal, l_cal = table(splits["calibration"], False, True)
    y_val, f_val, l_val = table(splits["validation"], False, True)
    _, f_val_l, l_val_l = table(splits["validation"], True, True)
    print(f"features and logits computed in {time.monotonic() - started:.0f} s")

    names = [f"D 1/{2 ** s}" for s in range(SCALES)] + [f"NLL 1/{2 ** s}" for s in range(SCALES)]
    print(f"{'training-free score':<40}{'AUC clean':>10}{'laundered':>10}")
    for k, name in enumerate(names):
        print(f"{'-' + name:<40}{auc(y_val, -f_val[:, k]):>10.3f}{auc(y_val, -f_val_l[:, k]):>10.3f}")
    print(f"{'-(D 1/1 - D 1/2)':<40}{auc(y_val, f_val[:, 1] - f_val[:, 0]):>10.3f}"
          f"{auc(y_val, f_val_l[:, 1] - f_val_l[:, 0]):>10.3f}")

    z_tr, z_cal, z_val, z_val_l = standardise(f_tr, f_cal, f_val, f_val_l)
    w, b = fit_logistic(z_tr, y_tr)
    print(f"{'logistic on the 6 numbers (supervised)':<40}{auc(y_val, z_val @ w + b):>10.3f}"
          f"{auc(y_val, z_val_l @ w + b):>10.3f}")
    print(f"{'default classifier alone':<40}{auc(y_val, l_val):>10.3f}{auc(y_val, l_val_l):>10.3f}")
    stack_cal = np.column_stack([l_cal, z_cal])
    w, b = fit_logistic(stack_cal, y_cal)
    print(f"{'classifier + 6 numbers (fit: calibration)':<40}"
          f"{auc(y_val, np.column_stack([l_val, z_val]) @ w + b):>10.3f}"
          f"{auc(y_val, np.column_stack([l_val_l, z_val_l]) @ w + b):>10.3f}  weights {np.round(w, 2).tolist()}")
    groups = sorted({r.group for r in splits["validation"]})
    print("per group, mean D 1/1 (clean, laundered):")
    for g in groups:
        m = np.array([r.group == g for r in splits["validation"]])
        print(f"  {g:<50}{m.sum():>4}{f_val[m, 0].mean():>9.3f}{f_val_l[m, 0].mean():>9.3f}")
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
