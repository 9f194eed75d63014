"""Time our post-processing alone: semantic, panoptic and instance inference at the original size.

Inputs are synthetic predictions of the R50 COCO-panoptic Mask2Former's shape at each ``--sizes``
image (100 queries, 133 classes + "no object", mask logits at stride 4, 25 confident queries so
that panoptic inference keeps segments), fed to ``MaskFormer.postprocess`` of the model built from
``configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml`` (its thresholds and top-k).
The image is not padded further and is reported at its own size, as in ``bench_m2f_inference.py``.
Each inference is timed alone (only its ``*_ON`` flag set), then all three together (the COCO
panoptic model's setting). Lines print seconds per image (median wall and CPU time); the machine's
fp32 matmul GFLOP/s is printed first, to read the figures across machines.

Usage: ``python bench/bench_postprocess.py [--threads 2] [--runs 3] [--sizes 800x1088]``
"""

from __future__ import annotations

import argparse

import torch
from common import CONFIG, coco_panoptic_thing_ids, load_note, machine_gflops, median_time

from maskformer.config import load_config
from maskformer.modeling import build_model
from maskformer.structures import ImageList
from maskformer.utils.analysis import skip_weight_init

NUM_QUERIES, NUM_CLASSES, CONFIDENT = 100, 133, 25
SETTINGS = {
    "semantic": (True, False, False),
    "panoptic": (False, True, False),
    "instance": (False, False, True),
    "semantic + panoptic + instance": (True, True, True),
}


def predictions(height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``{"pred_logits": [1, Q, K+1], "pred_masks": [1, Q, H/4, W/4]}`` with confident queries."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, NUM_QUERIES, NUM_CLASSES + 1, generator=gen)
    confident = torch.randperm(NUM_QUERIES, generator=gen)[:CONFIDENT]
    logits[0, confident, torch.randint(0, NUM_CLASSES, (CONFIDENT,), generator=gen)] = 9.0
    masks = torch.randn(1, NUM_QUERIES, height // 4, width // 4, generator=gen) * 4
    return {"pred_logits": logits, "pred_masks": masks}


def post_processing_model():
    """Our COCO-panoptic Mask2Former (weights not initialised: only ``postprocess`` runs)."""
    cfg = load_config(str(CONFIG), ["MODEL.DEVICE", "cpu"], freeze=False)
    with skip_weight_init():
        return build_model(cfg, thing_ids=coco_panoptic_thing_ids()).eval()


def bench_size(model, height: int, width: int, runs: int) -> None:
    """Prints one line per setting: seconds per image of ``postprocess`` at ``height x width``."""
    outputs = predictions(height, width)
    images = ImageList(torch.zeros(1, 3, height, width), [(height, width)])
    inputs = [{"height": height, "width": width}]
    for name, (semantic, panoptic, instance) in SETTINGS.items():
        model.semantic_on, model.panoptic_on, model.instance_on = semantic, panoptic, instance
        with torch.no_grad():
            wall, cpu = median_time(lambda: model.postprocess(outputs, inputs, images), runs)
        print(f"{height}x{width} {name:32s} {wall:7.3f} s/image wall  {cpu:7.3f} s/image CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=["800x1088"], help="HxW, multiples of 4")
    args = parser.parse_args()
    print(f"fp32 matmul 4096^2 on {args.threads} thread(s): {machine_gflops(args.threads):.0f} GFLOP/s")
    torch.set_num_threads(args.threads)
    print(f"post-processing, {args.threads} thread(s), medians of {args.runs}; {load_note()}")
    model = post_processing_model()
    for size in args.sizes:
        height, width = (int(v) for v in size.split("x"))
        bench_size(model, height, width, args.runs)
    print(load_note())


if __name__ == "__main__":
    main()
