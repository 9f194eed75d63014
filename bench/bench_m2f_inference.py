"""Inference time and peak memory of our R50 COCO-panoptic Mask2Former vs HF transformers'.

Same weights, same input, same process for the timings (fp32, CPU, ``--threads`` threads, medians
of ``--runs`` runs after a warm-up). "model" is backbone + pixel decoder + transformer decoder on a
normalised tensor (no pre/post-processing); the pixel decoder is also timed alone; post-processing
(semantic + panoptic + instance at the original size) is reported separately. Peak memory is the
growth of the peak RSS during one forward, each implementation in its own fresh process.

Usage: ``python bench/bench_m2f_inference.py [--sizes 512x512 800x1088] [--runs 3] [--threads 2]``
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


def _image(height: int, width: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8, generator=gen)


def _forwards(hf, ours, x):
    """Zero-argument callables running each model / pixel decoder once."""
    features = ours.backbone(x)
    hf_features = list(hf.model.pixel_level_module.encoder(x).feature_maps)
    return {
        "model": (lambda: ours.sem_seg_head(ours.backbone(x)), lambda: hf(pixel_values=x)),
        "pixel decoder": (
            lambda: ours.sem_seg_head.pixel_decoder.forward_features(features),
            lambda: hf.model.pixel_level_module.decoder(hf_features),
        ),
    }


def _postprocessing(hf, ours, images):
    from transformers import Mask2FormerImageProcessor

    height, width = images.shape[-2:]
    inputs = [{"image": images[0], "height": height, "width": width}]
    prepared = ours.preprocess_image(inputs)
    outputs = ours.sem_seg_head(ours.backbone(prepared.tensor))
    hf_out = hf(pixel_values=normalise(images))
    processor = Mask2FormerImageProcessor()
    sizes = [(height, width)]

    def hf_post():
        processor.post_process_semantic_segmentation(hf_out, target_sizes=sizes)
        processor.post_process_panoptic_segmentation(hf_out, target_sizes=sizes, label_ids_to_fuse=set())
        processor.post_process_instance_segmentation(hf_out, threshold=0.0, target_sizes=sizes)

    return lambda: ours.postprocess(outputs, inputs, prepared), hf_post


def worker(which: str, height: int, width: int, threads: int) -> None:
    """Prints the peak-RSS growth (MB) of one forward of one implementation."""
    torch.set_num_threads(threads)
    hf, ours = build_pair()
    x = normalise(_image(height, width))
    run = (lambda: ours.sem_seg_head(ours.backbone(x))) if which == "ours" else (lambda: hf(pixel_values=x))
    reset_peak_rss()
    before = current_rss_mb()
    with torch.no_grad():
        run()
    print(json.dumps({"peak_growth_mb": peak_rss_mb() - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1088"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        height, width = (int(v) for v in args.sizes[0].split("x"))
        worker(args.worker, height, width, args.threads)
        return
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} runs={args.runs}; {load_note()}")
    hf, ours = build_pair()
    for size in args.sizes:
        height, width = (int(v) for v in size.split("x"))
        images = _image(height, width)
        with torch.no_grad():
            for name, (ours_fn, hf_fn) in _forwards(hf, ours, normalise(images)).items():
                print(
                    format_pair(
                        f"{size} {name}", median_time(ours_fn, args.runs), median_time(hf_fn, args.runs)
                    )
                )
            ours_post, hf_post = _postprocessing(hf, ours, images)
            ours_t, hf_t = median_time(ours_post, args.runs), median_time(hf_post, args.runs)
            print(format_pair(f"{size} post-process (sem+pan+ins)", ours_t, hf_t))
        if not args.skip_memory:
            mem = {
                w: run_isolated(__file__, ["--worker", w, "--sizes", size, "--threads", str(args.threads)])
                for w in ("ours", "hf")
            }
            ours_mb, hf_mb = mem["ours"]["peak_growth_mb"], mem["hf"]["peak_growth_mb"]
            print(f"{size} peak RSS growth of one forward: ours {ours_mb:.0f} MB   HF {hf_mb:.0f} MB")
    print(f"done; {load_note()}")


if __name__ == "__main__":
    main()
