"""One training step (forward + losses + backward) of our R50 COCO-panoptic Mask2Former vs HF's.

Batch: ``--batch`` (2) images of ``--size`` (512x512) with 6 random blob masks each, the same for
both. Both models carry the same weights; HF's ResNet runs its BatchNorms on running statistics
(eval mode), as our frozen-BN backbone does, so both do the same work. The loss uses 12544 points
per mask with importance sampling in both. Time: medians of ``--runs`` steps after a warm-up, in
the same process; peak memory: growth of the peak RSS during one step, each implementation in its
own fresh process.

Usage: ``python bench/bench_m2f_train_step.py [--runs 3] [--threads 2] [--size 512x512]``
"""

from __future__ import annotations

import argparse
import json

import torch
from common import (
    build_pair,
    current_rss_mb,
    format_pair,
    load_note,
    median_time,
    normalise,
    peak_rss_mb,
    reset_peak_rss,
    run_isolated,
)

from maskformer.structures import Instances

NUM_MASKS = 6


def make_batch(batch: int, height: int, width: int, num_masks: int = NUM_MASKS):
    """uint8 images, per-image class ids and bool masks (random axis-aligned blobs)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8, generator=gen)
    labels, masks = [], []
    for _ in range(batch):
        labels.append(torch.randint(0, 133, (num_masks,), generator=gen))
        m = torch.zeros(num_masks, height, width, dtype=torch.bool)
        for i in range(num_masks):
            y0, x0 = (int(v) for v in torch.randint(0, height // 2, (2,), generator=gen))
            m[i, y0 : y0 + height // 3, x0 : x0 + width // 3] = True
        masks.append(m)
    return images, labels, masks


def model_inputs(images, labels, masks) -> list[dict]:
    """Our model's training inputs: one dict per image with its ``Instances`` targets."""
    height, width = images.shape[-2:]
    return [
        {
            "image": img,
            "height": height,
            "width": width,
            "instances": Instances((height, width), gt_classes=c, gt_masks=m),
        }
        for img, c, m in zip(images, labels, masks)
    ]


def steps(hf, ours, images, labels, masks):
    """Zero-argument callables doing one training step of each model."""
    inputs = model_inputs(images, labels, masks)
    x = normalise(images)
    float_masks = [m.float() for m in masks]
    hf.train()
    hf.model.pixel_level_module.encoder.eval()
    ours.train()

    def ours_step():
        ours.zero_grad(set_to_none=True)
        sum(ours(inputs).values()).backward()

    def hf_step():
        hf.zero_grad(set_to_none=True)
        hf(pixel_values=x, mask_labels=float_masks, class_labels=labels).loss.backward()

    return ours_step, hf_step


def worker(which: str, batch: int, height: int, width: int, threads: int) -> None:
    """Prints the peak-RSS growth (MB) of one training step of one implementation."""
    torch.set_num_threads(threads)
    hf, ours = build_pair()
    ours_step, hf_step = steps(hf, ours, *make_batch(batch, height, width))
    reset_peak_rss()
    before = current_rss_mb()
    (ours_step if which == "ours" else hf_step)()
    print(json.dumps({"peak_growth_mb": peak_rss_mb() - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    if args.worker:
        worker(args.worker, args.batch, height, width, args.threads)
        return
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} runs={args.runs} batch={args.batch}x{args.size}; {load_note()}")
    hf, ours = build_pair()
    ours_step, hf_step = steps(hf, ours, *make_batch(args.batch, height, width))
    label = f"train step {args.batch}x{args.size}"
    print(format_pair(label, median_time(ours_step, args.runs), median_time(hf_step, args.runs)))
    if not args.skip_memory:
        common_args = ["--size", args.size, "--batch", str(args.batch), "--threads", str(args.threads)]
        mem = {w: run_isolated(__file__, ["--worker", w, *common_args]) for w in ("ours", "hf")}
        ours_mb, hf_mb = mem["ours"]["peak_growth_mb"], mem["hf"]["peak_growth_mb"]
        print(
            f"{label} peak RSS growth: ours {ours_mb:.0f} MB  HF {hf_mb:.0f} MB  ratio {ours_mb / hf_mb:.2f}"
        )
    print(f"done; {load_note()}")


if __name__ == "__main__":
    main()
