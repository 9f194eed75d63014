"""Our Mask2Former under different settings: 2 vs 1 intra-op threads, bf16 autocast vs fp32.

Inference (``model()`` with post-processing, one ``--size`` image) and the training step
(``--batch`` x ``--size``, 3 masks each) of our R50 COCO-panoptic model, each setting timed in the
same process (medians of ``--runs`` after a warm-up). The baseline of each row is 1 thread (fp32)
or fp32 (``--threads`` threads). ``--amp`` is ignored: the bf16 rows are always measured.

Usage: ``python bench/bench_settings.py [--size 512x512] [--runs 3]``
"""

from __future__ import annotations

import argparse
import contextlib

import torch
from bench_m2f_inference import make_image
from bench_m2f_train_step import image_size, steps
from common import Result, add_common_args, bench_main, build_pair, median_time


def _timings(ours, hf, args: argparse.Namespace, threads: int, amp: bool) -> tuple[tuple, tuple]:
    """(inference, training step) medians of ours with ``threads`` threads, bf16 autocast if ``amp``."""
    torch.set_num_threads(threads)
    device_type = torch.device(args.device).type
    precision = torch.autocast(device_type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    height, width = (int(v) for v in image_size(args).split("x"))
    images = make_image(height, width, args.device)
    inputs = [{"image": images[0], "height": height, "width": width}]
    ours.eval()
    with torch.no_grad(), precision:
        inference = median_time(lambda: ours(inputs), args.runs, device=args.device)
    step_args = argparse.Namespace(**{**vars(args), "amp": amp})
    ours_step, _ = steps(hf, ours, step_args)
    return inference, median_time(ours_step, args.runs, device=args.device)


def run(args: argparse.Namespace) -> list[Result]:
    """Rows: threads study (inference, training step), then bf16 vs fp32 (inference, training step)."""
    hf, ours = build_pair(tiny=args.quick, device=args.device)
    size = image_size(args)
    one = _timings(ours, hf, args, 1, amp=False)
    many = _timings(ours, hf, args, args.threads, amp=False)
    bf16 = _timings(ours, hf, args, args.threads, amp=True)
    names = (f"ours inference {size} model()", f"ours train step {args.batch}x{size}")
    threads = f"{args.threads} thread(s)"
    rows = [Result(f"{n}, {threads}", "1 thread", many[i], one[i]) for i, n in enumerate(names)]
    rows += [Result(f"{n}, bf16 autocast", "fp32", bf16[i], many[i]) for i, n in enumerate(names)]
    torch.set_num_threads(args.threads)
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="512x512", help="HxW (--quick: the train step's tiny size)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--masks", type=int, default=3, help="target masks per image")
    add_common_args(p)
    return p


def main() -> None:
    bench_main(parser(), run)


if __name__ == "__main__":
    main()
