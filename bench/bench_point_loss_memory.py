"""Mask2Former Table 5's memory column: peak training memory with mask losses vs point losses.

Our R50 COCO-instance Mask2Former (random weights, the official config: 100 queries, 10 decoder
predictions with deep supervision, 12544 points) takes one training step on ``--batch`` images of
``--size`` with ``--masks`` random blob masks each, in a fresh process per row of Table 5
(``MODEL.MASK_FORMER.MATCHING_ON_POINTS`` / ``LOSS_ON_POINTS``). The figure is the growth of the peak
RSS during the step. The paper measures GPU memory at 1024x1024 LSJ crops (18G vs 6G); the ratio
is what carries over.

Usage: ``python bench/bench_point_loss_memory.py [--size 1024x1024] [--batch 1] [--masks 16] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_m2f_train_step import make_batch, model_inputs
from common import current_rss_mb, load_note, peak_rss_mb, reset_peak_rss, run_isolated

from maskformer.config import get_cfg
from maskformer.data import register_builtin_datasets
from maskformer.modeling import build_model

CONFIG = (
    Path(__file__).resolve().parents[1] / "configs/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml"
)
# Table 5 rows: (matching, loss) -> the paper's memory.
ROWS = {("mask", "mask"): "18G", ("mask", "point"): "6G", ("point", "mask"): "18G", ("point", "point"): "6G"}


def worker(matching: str, loss: str, batch: int, height: int, width: int, masks: int, threads: int) -> None:
    """Prints the peak-RSS growth (MB) of one training step with the given Table 5 row."""
    torch.set_num_threads(threads)
    register_builtin_datasets()
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.MASK_FORMER.MATCHING_ON_POINTS = matching == "point"
    cfg.MODEL.MASK_FORMER.LOSS_ON_POINTS = loss == "point"
    model = build_model(cfg).train()
    images, labels, blobs = make_batch(batch, height, width, masks)
    labels = [c % cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES for c in labels]
    inputs = model_inputs(images, labels, blobs)
    reset_peak_rss()
    before = current_rss_mb()
    sum(model(inputs).values()).backward()
    print(json.dumps({"peak_growth_mb": peak_rss_mb() - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1024x1024")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--masks", type=int, default=16, help="target masks per image")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=2, choices=["mask", "point"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    if args.worker:
        worker(*args.worker, args.batch, height, width, args.masks, args.threads)
        return
    print(f"threads={args.threads} batch={args.batch}x{args.size}, {args.masks} masks; {load_note()}")
    common = ["--size", args.size, "--batch", str(args.batch), "--masks", str(args.masks)]
    common += ["--threads", str(args.threads)]
    growth = {row: run_isolated(__file__, ["--worker", *row, *common])["peak_growth_mb"] for row in ROWS}
    base = growth[("point", "point")]
    print("| matching | loss | peak RSS growth (MB) | vs point/point | paper |")
    print("| --- | --- | --- | --- | --- |")
    for (matching, loss), paper in ROWS.items():
        mb = growth[(matching, loss)]
        print(f"| {matching} | {loss} | {mb:.0f} | {mb / base:.2f}x | {paper} |")
    print(f"done; {load_note()}")


if __name__ == "__main__":
    main()
