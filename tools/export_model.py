#!/usr/bin/env python
"""Export a MaskFormer / Mask2Former network to ONNX and / or a ``torch.export`` program.

The exported network maps a normalised, padded image batch ``images [B, 3, H, W]`` (H, W any
multiple of the model's size divisibility) to ``pred_logits [B, Q, K+1]`` and ``pred_masks
[B, Q, H/4, W/4]``; run it with the model's own pre/post-processing through
``maskformer.export.ExportedMaskFormer`` (or ``build_onnx_model(cfg, "model.onnx")``).

Examples::

    python tools/export_model.py \\
        --config-file configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml \\
        --output exported/ --format onnx torch --verify MODEL.WEIGHTS model_final.pth MODEL.DEVICE cpu

Writes ``model.onnx`` (needs ``pip install 'maskformer[export]'``) and ``model.pt2``
(``torch.export.load``). ``--verify`` prints the largest difference to the eager model on the
example input and on a second size.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from maskformer.checkpoint import Checkpointer
from maskformer.config import CfgNode, load_config
from maskformer.data.datasets.builtin import register_datasets
from maskformer.export import (
    OnnxNetwork,
    SegmentationNetwork,
    example_images,
    export_onnx,
    export_program,
    output_differences,
    save_program,
)
from maskformer.modeling import build_model

logger = logging.getLogger("maskformer.export_model")

FORMATS = ("onnx", "torch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for model.onnx / model.pt2")
    parser.add_argument("--format", nargs="+", default=["onnx"], choices=FORMATS, help="what to write")
    parser.add_argument("--height", type=int, default=512, help="example height used for tracing")
    parser.add_argument("--width", type=int, default=512, help="example width used for tracing")
    parser.add_argument("--max-size", type=int, default=4096, help="largest height / width accepted")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 16)")
    parser.add_argument("--verify", action="store_true", help="compare the exports with the eager model")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    return parser.parse_args(argv)


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    return load_config(args.config_file, args.opts)


def build_network(cfg: CfgNode) -> SegmentationNetwork:
    """The config's model with ``MODEL.WEIGHTS`` loaded, as an exportable network in eval mode."""
    register_datasets(cfg)  # their metadata gives the thing classes build_model asks for
    model = build_model(cfg).eval()
    if cfg.MODEL.WEIGHTS:
        Checkpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    else:
        logger.warning("MODEL.WEIGHTS is empty: exporting randomly initialised weights.")
    return SegmentationNetwork(model).eval()


def verify(network: SegmentationNetwork, exported: dict, height: int, width: int) -> dict:
    """Max |Δ| of every export at the traced size and at a second size (one step larger each way)."""
    step = max(network.size_divisibility, 1)
    results = {}
    for h, w in [(height, width), (height + step, width + 2 * step)]:
        for name, diffs in output_differences(network, exported, example_images(network, h, w)).items():
            results[(name, h, w)] = diffs
            logger.info(
                "%s at %dx%d: max |diff| pred_logits %.3g, pred_masks %.3g",
                name, h, w, diffs["pred_logits"], diffs["pred_masks"],
            )
    return results


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Writes the requested exports; returns ``{format: path}``."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    network = build_network(cfg)
    output = Path(args.output)
    program = export_program(network, args.height, args.width, args.max_size)
    written, exported = {}, {}
    if "torch" in args.format:
        written["torch"] = save_program(program, output / "model.pt2")
        exported["torch.export"] = program.module()
    if "onnx" in args.format:
        written["onnx"] = export_onnx(program, output / "model.onnx", args.opset)
        exported["onnx"] = OnnxNetwork(written["onnx"])
    for fmt, path in written.items():
        logger.info("Wrote %s export to %s", fmt, path)
    if args.verify:
        with torch.no_grad():
            verify(network, exported, args.height, args.width)
    return written


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    main()
