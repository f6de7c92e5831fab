"""Training throughput: crops per second of `synthcheck train`'s fine-tuning loop on a device,
with a config's recipe (crop size, augmentation, frozen layers, batch size) and synthetic
photo-like images, so it runs anywhere without ../shared.

    python bench/bench_train.py [--config models/configs/lite0-v4.json] [--device auto] [--steps 60] [--workers N]

The rate includes augmentation (decoded images in memory, crops, down-scaling, blur, JPEG
re-compression, in the training process or in `--workers` processes) and the forward and
backward passes: on a GPU without workers the first bounds it, on the CPU the second.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from synthcheck import testkit
from synthcheck.datasets import load_folder, split_records
from synthcheck.models.train import TrainConfig, resolve_device, train_supervised


def synthetic_folder(root: Path, width: int, height: int, per_source: int = 6) -> None:
    for label, sources in (("real", ("cam_a", "cam_b")), ("generated", ("gen_a", "gen_b"))):
        for k, source in enumerate(sources):
            folder = root / label / source
            folder.mkdir(parents=True)
            for i in range(per_source):
                image = testkit.photo_like(width, height, seed=1000 * k + i + (500 if label == "generated" else 0))
                image.save(folder / f"{i}.png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="models/configs/lite0-v4.json")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", type=int, default=0, help="augmentation processes (0: in the training process)")
    parser.add_argument("--size", default="1024x768", help="synthetic image size, WxH")
    args = parser.parse_args()
    device = resolve_device(args.device)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        synthetic_folder(Path(tmp), width, height)
        base = TrainConfig.load(args.config)
        records = load_folder(tmp)
        splits = split_records(records, ("real/cam_b:", "generated/gen_b:"), calibration_fraction=0.3)
        results = []
        for steps in (5, args.steps):  # the short run is the warm-up (allocator, cuDNN autotuning)
            config = dataclasses.replace(base, aligned_methods={}, paired_fraction=0.0, max_steps=steps,
                                         eval_every=steps, selection_images=4, time_budget_minutes=60)
            started = time.perf_counter()
            _, stats = train_supervised(config, splits["train"], splits["calibration"], device, args.workers)
            results.append((stats["crops_seen"], time.perf_counter() - started))
    crops, seconds = results[-1]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"{base.name} recipe on {device} ({name}): {args.steps} steps of {base.batch_size} crops of "
          f"{base.preprocessing.crop_size} px from {width}x{height} images, "
          f"frozen {list(base.frozen_prefixes) or 'none'}, "
          f"{stats['batch_stream']} batches: "
          f"{crops / seconds:.0f} crops/s ({seconds:.1f} s, one selection pass included)")


if __name__ == "__main__":
    main()
