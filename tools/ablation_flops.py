#!/usr/bin/env python
"""FLOPs of the ablation configs beside the papers' FLOPs column (Mask2Former Table 4).

Every COCO-instance config under ``configs/ablations/mask2former/`` is analysed with
``tools/analyze_model.py --tasks flop`` (multiply-adds, fvcore convention, post-processing
included) on one input size, by default 800x1066: a 640x480 COCO val2017 image (the most common
size) after the test-time ResizeShortestEdge(800, 1333). The paper averages over COCO val images,
whose mean area is a little larger, so the baseline row reads a few percent below its 226G.

    python tools/ablation_flops.py                       # every Table 4 row, ~1 min per row on CPU
    python tools/ablation_flops.py --rows table4e        # only the configs whose path has "table4e"
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import analyze_model  # a sibling script: tools/ is on sys.path when this runs as a script

REPO = Path(__file__).resolve().parents[1]

BASELINE = "configs/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml"
# Mask2Former Table 4 "FLOPs" column (measured on COCO instance segmentation), in GFLOPs, by the
# ablation config's file stem; None where the paper gives no number.
PAPER_GFLOPS = {
    "maskformer2_R50_bs16_50ep": 226,
    "coco_instance_no_masked_attention": 213,
    "coco_instance_no_high_resolution_features": 218,
    "coco_instance_no_learnable_query_features": 226,
    "coco_instance_self_attention_first": 226,
    "coco_instance_with_dropout": 226,
    "coco_instance_all_three_removed": 226,
    "coco_instance_cross_attention": 213,
    "coco_instance_smca": 213,
    "coco_instance_mask_pooling": 217,
    "coco_instance_single_scale_32": 218,
    "coco_instance_single_scale_16": 222,
    "coco_instance_single_scale_8": 239,
    "coco_instance_naive_multi_scale": 247,
    "coco_instance_fpn": 195,
    "coco_instance_semantic_fpn": 258,
    "coco_instance_fapn": None,
    "coco_instance_bifpn": 204,
}


def measure(config: str, size: tuple[int, int]) -> float:
    """GFLOPs of ``config`` on one ``size`` input, the analysis log silenced."""
    argv = ["--config-file", str(REPO / config), "--tasks", "flop", "--input-size", *map(str, size)]
    with contextlib.redirect_stderr(io.StringIO()):
        return analyze_model.main([*argv, "MODEL.DEVICE", "cpu"])["flops"] / 1e9


def main(argv: list[str] | None = None) -> list[tuple[str, float, float | None]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="table4", help="analyse configs whose path contains this")
    parser.add_argument("--input-size", nargs=2, type=int, default=(800, 1066), metavar=("H", "W"))
    args = parser.parse_args(argv)
    configs = [BASELINE] + sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "configs/ablations/mask2former").rglob("coco_instance_*.yaml")
        if args.rows in str(p)
    )
    rows = []
    print(f"| config | GFLOPs here ({args.input_size[0]}x{args.input_size[1]}) | paper | ratio |")
    print("| --- | --- | --- | --- |")
    for config in configs:
        ours = measure(config, tuple(args.input_size))
        paper = PAPER_GFLOPS.get(Path(config).stem)
        ratio = f"{ours / paper:.3f}" if paper else "-"
        print(f"| {config} | {ours:.1f} | {paper or '-'} | {ratio} |", flush=True)
        rows.append((config, ours, paper))
    return rows


if __name__ == "__main__":
    main()
