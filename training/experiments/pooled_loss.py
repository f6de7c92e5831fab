"""Issue 31, the last gap to v4: train the scoring head on the image's pooled logit too.

The shipped head (clip-v6's main head) is fitted crop by crop, every crop labelled with its
image's label, and scored at run time by the maximum over the crops (averaged with the global
view). A real photo's false alarm is its worst crop; the per-crop loss weighs that crop like any
other. Here a share `--alpha` of the loss is the runtime's own image logit: (smooth maximum of
the crop logits + global logit) / 2, the smooth maximum a log-sum-exp at `--tau` (near the
maximum for small tau), for real images only (`--pooled-on real`: the worst crop of a real photo
pushed down, generated images keep their per-crop loss, which a real patch cannot hide from) or
for both classes. Everything out of fold on clip-v6's folds, scored by the maximum rule: AUC and
real images at `high` (default and kyc) per condition, and the patch tests.

    python training/experiments/pooled_loss.py --alpha 0 0.3 0.6 [--tau 0.5] [--pooled-on real|both]
           [--partition 1]

Results: training/experiments/README.md ("The scoring head trained on its pooled logit")."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from synthcheck.models.clip_probe import ProbeHead
from synthcheck.training.clip_features import ClipTrainConfig
from synthcheck.training.grid_folds import (
    Material,
    fit,
    group_balanced,
    held_out_summary,
    material,
    row_matrix,
)
from synthcheck.training.source_folds import fold_of


def fit_pooled(m: Material, images: np.ndarray, weight_decay: float, alpha: float, tau: float,
               pooled_on: str) -> ProbeHead:
    """The variants that did not ship: the per-crop loss at (1 - alpha) and the image-level loss at
    alpha of both classes' pooled logits (`both`), or of real images' smooth maximum and generated
    images' smooth minimum (`real+softmin`). What ships (`real`) is grid_folds.fit's pooled term."""
    import torch

    x, labels, weights = row_matrix(m.encoded, images, m.tags, m.y, m.groups)
    # the same rows in the same order as row_matrix: per tag, per image, its crops then its global view
    crop_image, is_crop, image_label, image_weight = [], [], [], []
    per_image = group_balanced(m.y[images], [m.groups[i] for i in images])
    n_image = 0
    for tag in m.tags:
        for i, w in zip(images, per_image):
            n = len(m.encoded[tag][i].crops)
            crop_image.append(np.full(n + 1, n_image))
            is_crop.append(np.r_[np.ones(n, bool), False])
            image_label.append(m.y[i])
            image_weight.append(w / len(m.tags))
            n_image += 1
    seg = torch.from_numpy(np.concatenate(crop_image))
    crop_mask = torch.from_numpy(np.concatenate(is_crop))
    ylab = torch.tensor(np.array(image_label), dtype=torch.float32)
    wimg = np.array(image_weight)
    wimg = torch.tensor(wimg / wimg.sum(), dtype=torch.float32)

    mean, std = x.mean(0, dtype=np.float64), x.std(0, dtype=np.float64) + 1e-6
    xt = torch.from_numpy((x - mean.astype(np.float32)) / std.astype(np.float32))
    yt, wt = torch.tensor(labels, dtype=torch.float32), torch.tensor(weights, dtype=torch.float32)
    coef = torch.zeros(x.shape[1], dtype=torch.float32, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float32, requires_grad=True)
    crop_seg, glob_seg = seg[crop_mask], seg[~crop_mask]
    counts = torch.zeros(n_image).index_add_(0, crop_seg, torch.ones(len(crop_seg)))
    optimiser = torch.optim.LBFGS([coef, bias], max_iter=500, line_search_fn="strong_wolfe")
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def closure():
        optimiser.zero_grad()
        z = xt @ coef + bias
        loss = (1 - alpha) * (wt * bce(z, yt, reduction="none")).sum() + weight_decay * (coef ** 2).sum()
        if alpha > 0:
            zc, zg = z[crop_mask], z[~crop_mask]
            top = torch.full((n_image,), -1e9).scatter_reduce(0, crop_seg, zc.detach(), "amax")
            summed = torch.zeros(n_image).index_add(0, crop_seg, torch.exp((zc - top[crop_seg]) / tau))
            smooth_max = top + tau * torch.log(summed / counts)
            if pooled_on == "real+softmin":  # a generated image's crops pooled by a smooth minimum instead
                low = torch.full((n_image,), 1e9).scatter_reduce(0, crop_seg, zc.detach(), "amin")
                under = torch.zeros(n_image).index_add(0, crop_seg, torch.exp((low[crop_seg] - zc) / tau))
                smooth_min = low - tau * torch.log(under / counts)
                smooth_max = torch.where(ylab == 1, smooth_min, smooth_max)
            glob = torch.zeros(n_image).index_add(0, glob_seg, zg)
            image_z = (smooth_max + glob) / 2
            loss = loss + alpha * (wimg * bce(image_z, ylab, reduction="none")).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return ProbeHead(coef.detach().double().numpy(), float(bias.detach()), mean, std)


def evaluate(m: Material, config, alpha: float, tau: float, pooled_on: str, log) -> dict:
    def fit_fold(images: np.ndarray) -> ProbeHead:
        if pooled_on == "real":
            return fit(m.encoded, images, m.tags, m.y, m.groups, config.weight_decay, pooled_weight=alpha,
                       pooled_tau=tau)
        return fit_pooled(m, images, config.weight_decay, alpha, tau, pooled_on)

    return {"alpha": alpha, "tau": tau, "pooled_on": pooled_on,
            **held_out_summary(m, config.folds, fit_fold, lambda message: log(f"alpha {alpha}: {message}"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="training/configs/clip-v6.json")
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0, 0.3, 0.6])
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument("--pooled-on", choices=("real", "both", "real+softmin"), default="real",
                        help="whose pooled logit enters the loss (real+softmin: a generated image's by a smooth "
                        "minimum, every crop of it pushed up)")
    parser.add_argument("--partition", type=int, default=0, help="deal the groups into folds another way "
                        "(source_folds.fold_of); patch cases keep their composites, scored by the heads that "
                        "did not see their host's group")
    parser.add_argument("--out", default="", help="also append each row as JSON here")
    args = parser.parse_args()
    config = replace(ClipTrainConfig.load(args.config), partial_fakes=0)

    def log(message: str) -> None:
        print(message, flush=True)

    m = material(config, Path.cwd(), log)
    if args.partition:
        m = replace(m, fold=np.array([fold_of(g, config.folds, args.partition) for g in m.groups]))
    for alpha in args.alpha:
        row = {**evaluate(m, config, alpha, args.tau, args.pooled_on, log), "partition": args.partition}
        log(json.dumps(row))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
