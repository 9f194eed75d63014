"""One training step (forward + losses + backward) of our R50 COCO-panoptic Mask2Former vs HF's.

Batch: ``--batch`` (2) images of ``--size`` (512x512) with ``--masks`` (3) random blob masks each,
the same for both. Both models carry the same weights; HF's ResNet runs its BatchNorms on running
statistics (eval mode), as our frozen-BN backbone does, so both do the same work. Each computes its
own loss: 12544 points per mask with importance sampling in both, deep supervision, the official
weights. ``--amp`` runs both forwards under bf16 autocast on CPU (fp16 on CUDA; no grad scaling in
either, the step's work is the same). Time: medians of ``--runs`` steps after a warm-up, in the same
process; peak memory: growth of the peak RSS (CUDA: allocated memory) during one step, each
implementation in its own fresh process. Two more rows measure ours with activation checkpointing
of the deformable encoder layers (``MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_USE_CHECKPOINT``,
off by default) against HF: its step time and its peak memory.

Usage: ``python bench/bench_m2f_train_step.py [--runs 3] [--threads 2] [--size 512x512]``
"""

from __future__ import annotations

import argparse
import json

import torch
from common import (
    Result,
    add_common_args,
    autocast,
    bench_main,
    build_pair,
    isolated_peaks,
    measure_peak_mb,
    median_time,
    normalise,
    side_by_side,
    worker_args,
)

from maskformer.structures import Instances

NUM_MASKS = 3
QUICK_SIZE = "64x64"


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


def image_size(args: argparse.Namespace) -> str:
    """``--size``, or the tiny size of ``--quick``."""
    return QUICK_SIZE if args.quick else args.size


def steps(hf, ours, args: argparse.Namespace):
    """Zero-argument callables doing one training step of each model on the ``args`` batch."""
    height, width = (int(v) for v in image_size(args).split("x"))
    images, labels, masks = make_batch(args.batch, height, width, args.masks)
    inputs = model_inputs(images, labels, masks)
    device = args.device
    x = normalise(images.to(device))
    float_masks = [m.float().to(device) for m in masks]
    labels = [c.to(device) for c in labels]
    hf.train()
    hf.model.pixel_level_module.encoder.eval()
    ours.train()

    def ours_step():
        ours.zero_grad(set_to_none=True)
        with autocast(args):
            loss = sum(ours(inputs).values())
        loss.backward()

    def hf_step():
        hf.zero_grad(set_to_none=True)
        with autocast(args):
            loss = hf(pixel_values=x, mask_labels=float_masks, class_labels=labels).loss
        loss.backward()

    return ours_step, hf_step


def encoder_checkpointing(ours, enabled: bool) -> None:
    """Turns activation checkpointing of our deformable encoder layers on or off."""
    ours.sem_seg_head.pixel_decoder.transformer.use_checkpoint = enabled


def worker(args: argparse.Namespace) -> None:
    """Prints the peak memory growth (MB) of one training step of one implementation."""
    torch.set_num_threads(args.threads)
    hf, ours = build_pair(tiny=args.quick, device=args.device)
    encoder_checkpointing(ours, args.worker == "ours-checkpoint")
    ours_step, hf_step = steps(hf, ours, args)
    step = hf_step if args.worker == "hf" else ours_step
    print(json.dumps({"peak_growth_mb": measure_peak_mb(step, args.device)}))


def run(args: argparse.Namespace) -> list[Result]:
    """The training-step time row, then the isolated peak-memory row unless skipped."""
    torch.set_num_threads(args.threads)
    hf, ours = build_pair(tiny=args.quick, device=args.device)
    ours_step, hf_step = steps(hf, ours, args)
    label = f"train step {args.batch}x{image_size(args)}, {args.masks} masks"
    ours_t = median_time(ours_step, args.runs, device=args.device)
    hf_t = median_time(hf_step, args.runs, device=args.device)
    encoder_checkpointing(ours, True)
    checkpointed_t = median_time(ours_step, args.runs, device=args.device)
    encoder_checkpointing(ours, False)
    checkpointed = f"{label}, encoder checkpointing"
    results = [Result(label, "HF", ours_t, hf_t), Result(checkpointed, "HF", checkpointed_t, hf_t)]
    if not args.skip_memory:
        shape = ["--size", args.size, "--batch", str(args.batch), "--masks", str(args.masks)]
        workers = ("ours", "hf", "ours-checkpoint")
        runs = {w: ["--worker", w, *shape, *worker_args(args)] for w in workers}
        mem = isolated_peaks(__file__, runs, side_by_side(args))
        for name, key in ((label, "ours"), (checkpointed, "ours-checkpoint")):
            results.append(Result(f"{name} peak memory", "HF", (mem[key],), (mem["hf"],), "MB"))
    return results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="512x512", help=f"HxW (--quick: {QUICK_SIZE})")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--masks", type=int, default=NUM_MASKS, help="target masks per image")
    p.add_argument("--worker", choices=["ours", "hf", "ours-checkpoint"], help=argparse.SUPPRESS)
    add_common_args(p)
    return p


def main() -> None:
    bench_main(parser(), run, worker)


if __name__ == "__main__":
    main()
