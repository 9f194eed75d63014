"""Mask2Former Table 5's memory column: peak training memory with mask losses vs point losses.

Our R50 COCO-instance Mask2Former (random weights, the official config: 100 queries, 10 decoder
predictions with deep supervision, 12544 points) takes one training step on ``--batch`` images of
``--size`` with ``--masks`` random blob masks each, in a fresh process per row of Table 5
(``MODEL.MASK_FORMER.MATCHING_ON_POINTS`` / ``LOSS_ON_POINTS``). The figure is the growth of the peak
RSS during the step (``--device cuda``: of the allocated GPU memory). The paper measures GPU memory
at 1024x1024 LSJ crops (18G vs 6G); the ratio is what carries over.

Usage: ``python bench/bench_point_loss_memory.py [--size 1024x1024] [--batch 1] [--masks 16] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_m2f_train_step import make_batch, model_inputs
from common import (
    Result,
    add_common_args,
    bench_main,
    isolated_peaks,
    measure_peak_mb,
    side_by_side,
)

from maskformer.config import load_config
from maskformer.data import register_builtin_datasets
from maskformer.modeling import build_model

CONFIG = (
    Path(__file__).resolve().parents[1] / "configs/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml"
)
# Table 5 rows: (matching, loss) -> the paper's memory.
ROWS = {("mask", "mask"): "18G", ("mask", "point"): "6G", ("point", "mask"): "18G", ("point", "point"): "6G"}


def worker(args: argparse.Namespace) -> None:
    """Prints the peak-memory growth (MB) of one training step with the ``--worker`` Table 5 row."""
    torch.set_num_threads(args.threads)
    matching, loss = args.worker
    height, width = (int(v) for v in args.size.split("x"))
    register_builtin_datasets()
    cfg = load_config(str(CONFIG), ["MODEL.DEVICE", args.device], freeze=False)
    cfg.MODEL.MASK_FORMER.MATCHING_ON_POINTS = matching == "point"
    cfg.MODEL.MASK_FORMER.LOSS_ON_POINTS = loss == "point"
    model = build_model(cfg).train()
    images, labels, blobs = make_batch(args.batch, height, width, args.masks)
    labels = [c % cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES for c in labels]
    inputs = model_inputs(images, labels, blobs)
    growth = measure_peak_mb(lambda: sum(model(inputs).values()).backward(), args.device)
    print(json.dumps({"peak_growth_mb": growth}))


def run(args: argparse.Namespace) -> list[Result]:
    """One row per Table 5 setting against point matching + point loss (``--quick``: none)."""
    if args.quick:
        return []
    shape = ["--size", args.size, "--batch", str(args.batch), "--masks", str(args.masks)]
    shape += ["--threads", str(args.threads), "--device", args.device]
    growth = isolated_peaks(__file__, {row: ["--worker", *row, *shape] for row in ROWS}, side_by_side(args))
    base = growth[("point", "point")]
    return [
        Result(
            f"Table 5 {m} matching, {loss} loss peak memory (paper {paper})",
            "point/point",
            (growth[(m, loss)],),
            (base,),
            "MB",
        )
        for (m, loss), paper in ROWS.items()
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1024x1024")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--masks", type=int, default=16, help="target masks per image")
    p.add_argument("--worker", nargs=2, choices=["mask", "point"], help=argparse.SUPPRESS)
    add_common_args(p)
    return p


def main() -> None:
    bench_main(parser(), run, worker)


if __name__ == "__main__":
    main()
