"""Inference time and peak memory of our R50 COCO-panoptic Mask2Former vs HF transformers'.

Same weights, same input, same process for the timings (``--threads`` threads, medians of
``--runs`` runs after a warm-up; ``--amp`` runs both under bf16 autocast on CPU, fp16 on CUDA):

- ``model()``: the whole call on one image, ours ``model([{"image", "height", "width"}])`` with its
  semantic + panoptic + instance results at the original size, HF's ``model(pixel_values)`` followed
  by its own ``post_process_semantic_segmentation`` / ``_panoptic_`` / ``_instance_``;
- ``network``: backbone + pixel decoder + transformer decoder on a normalised tensor;
- ``pixel decoder``: the pixel decoder alone on the same backbone features;
- ``post-processing``: the three inference procedures alone on the same predictions.

Peak memory is the growth of the peak RSS (CUDA: allocated memory) during one ``network`` call,
each implementation in its own fresh process (``--quick`` skips it).

Usage: ``python bench/bench_m2f_inference.py [--sizes 512x512 800x1088] [--runs 3] [--threads 2]``
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

SIZES = ["512x512", "800x1088"]
QUICK_SIZES = ["64x64", "64x96"]


def make_image(height: int, width: int, device: str = "cpu") -> torch.Tensor:
    """A random uint8 RGB image ``[1, 3, H, W]``."""
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8, generator=gen).to(device)


def hf_postprocess(processor, hf_out, height: int, width: int) -> None:
    """HF's own semantic, panoptic and instance post-processing of one image's outputs."""
    sizes = [(height, width)]
    processor.post_process_semantic_segmentation(hf_out, target_sizes=sizes)
    processor.post_process_panoptic_segmentation(hf_out, target_sizes=sizes, label_ids_to_fuse=set())
    processor.post_process_instance_segmentation(hf_out, threshold=0.0, target_sizes=sizes)


def callables(hf, ours, images: torch.Tensor) -> dict:
    """Per row name: (ours, HF) zero-argument callables on ``images`` ``[1, 3, H, W]`` uint8."""
    from transformers import Mask2FormerImageProcessor

    height, width = images.shape[-2:]
    x = normalise(images)
    inputs = [{"image": images[0], "height": height, "width": width}]
    prepared = ours.preprocess_image(inputs)
    features = ours.backbone(x)
    hf_features = list(hf.model.pixel_level_module.encoder(x).feature_maps)
    outputs = {
        k: v.float()
        for k, v in ours.sem_seg_head(ours.backbone(prepared.tensor)).items()
        if k != "aux_outputs"
    }
    hf_out = hf(pixel_values=x)
    processor = Mask2FormerImageProcessor()
    return {
        "model()": (
            lambda: ours(inputs),
            lambda: hf_postprocess(processor, hf(pixel_values=x), height, width),
        ),
        "network": (lambda: ours.sem_seg_head(ours.backbone(x)), lambda: hf(pixel_values=x)),
        "pixel decoder": (
            lambda: ours.sem_seg_head.pixel_decoder(features),
            lambda: hf.model.pixel_level_module.decoder(hf_features),
        ),
        "post-processing": (
            lambda: ours.postprocess(outputs, inputs, prepared),
            lambda: hf_postprocess(processor, hf_out, height, width),
        ),
    }


def worker(args: argparse.Namespace) -> None:
    """Prints the peak memory growth (MB) of one ``network`` call of one implementation."""
    torch.set_num_threads(args.threads)
    hf, ours = build_pair(tiny=args.quick, device=args.device)
    height, width = (int(v) for v in args.sizes[0].split("x"))
    x = normalise(make_image(height, width, args.device))
    run = (
        (lambda: ours.sem_seg_head(ours.backbone(x)))
        if args.worker == "ours"
        else (lambda: hf(pixel_values=x))
    )
    with torch.no_grad(), autocast(args):
        print(json.dumps({"peak_growth_mb": measure_peak_mb(run, args.device)}))


def run(args: argparse.Namespace) -> list[Result]:
    """The rows of every size: the four timings, then peak memory unless skipped."""
    torch.set_num_threads(args.threads)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    hf, ours = build_pair(tiny=args.quick, device=args.device)
    results = []
    for size in sizes:
        height, width = (int(v) for v in size.split("x"))
        with torch.no_grad(), autocast(args):
            for name, (ours_fn, hf_fn) in callables(hf, ours, make_image(height, width, args.device)).items():
                ours_t = median_time(ours_fn, args.runs, device=args.device)
                hf_t = median_time(hf_fn, args.runs, device=args.device)
                results.append(Result(f"inference {size} {name}", "HF", ours_t, hf_t))
        if not (args.skip_memory or args.quick):
            mem = isolated_peaks(
                __file__,
                {w: ["--worker", w, "--sizes", size, *worker_args(args)] for w in ("ours", "hf")},
                side_by_side(args),
            )
            results.append(
                Result(f"inference {size} network peak memory", "HF", (mem["ours"],), (mem["hf"],), "MB")
            )
    return results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", help=f"HxW (default {SIZES}; --quick: {QUICK_SIZES})")
    p.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    add_common_args(p)
    return p


def main() -> None:
    bench_main(parser(), run, worker)


if __name__ == "__main__":
    main()
