#!/usr/bin/env python
"""Parameter count, FLOPs and activations of a model built from a config (the official tool's flags).

Examples::

    python tools/analyze_model.py --config-file configs/maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml \
        --tasks parameter flop --input-size 512 512 MODEL.DEVICE cpu
    python tools/analyze_model.py --config-file F --tasks flop --num-inputs 100   # dataset images

FLOPs count one multiply-add as one FLOP (fvcore / Detectron2 convention, as in the papers),
in inference mode, including post-processing (``MODEL.MASK_FORMER.TEST.*_ON``). Without
``--input-size`` they are averaged over the first ``--num-inputs`` images of ``DATASETS.TEST[0]``
as the test loader prepares them. Weights are not loaded: counts do not depend on them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch
from fvcore.nn import flop_count_table

from maskformer.config import CfgNode, load_config
from maskformer.data.datasets.builtin import register_datasets
from maskformer.modeling import build_model
from maskformer.utils.analysis import InferenceTracingWrapper, parameter_summary, skip_weight_init
from maskformer.utils.flops import activation_count_analysis, flop_count_analysis

logger = logging.getLogger("maskformer.analyze_model")

TASKS = ("parameter", "flop", "activation", "structure")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
    parser.add_argument("--tasks", nargs="+", required=True, choices=TASKS, help="what to analyze")
    parser.add_argument("-n", "--num-inputs", type=int, default=100, help="dataset images to average over")
    parser.add_argument(
        "--input-size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="use one H x W image instead of the dataset",
    )
    parser.add_argument("--max-depth", type=int, default=3, help="module depth of the per-module tables")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    args = parser.parse_args(argv)
    if args.num_inputs < 1:
        parser.error(f"--num-inputs must be >= 1, got {args.num_inputs}")
    return args


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    cfg = load_config(args.config_file, args.opts, freeze=False)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.info("CUDA is not available: analysing on the CPU.")
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def iter_inputs(cfg: CfgNode, args: argparse.Namespace) -> Iterator[tuple[torch.Tensor, dict[str, Any]]]:
    """``(image [3, H, W] uint8, other input fields)`` per analysed image."""
    if args.input_size:
        h, w = args.input_size
        yield torch.zeros(3, h, w, dtype=torch.uint8), {"height": h, "width": w}
        return
    from maskformer.data import build_test_loader

    if not cfg.DATASETS.TEST:
        raise ValueError(f"{args.config_file}: DATASETS.TEST is empty; pass --input-size H W instead.")
    loader = build_test_loader(cfg, cfg.DATASETS.TEST[0])
    count = 0
    for batch in loader:
        for item in batch:
            yield item["image"], {k: v for k, v in item.items() if k != "image"}
            count += 1
            if count >= args.num_inputs:
                return


def run_parameter(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    total, table = parameter_summary(model, max_depth=args.max_depth)
    logger.info("Parameter count: %s (%.1fM)\n%s", f"{total:,}", total / 1e6, table)
    return {"parameters": total}


def _analyse(model: torch.nn.Module, cfg: CfgNode, args: argparse.Namespace, make: Any) -> dict[str, Any]:
    """Average ``total()`` and per-operator counts of analysis ``make`` over the inputs.

    Returns:
        ``{"total", "by_operator", "unsupported", "first"}`` (``first``: the first input's analysis).
    """
    totals, by_op, unsupported, first, n = 0.0, Counter(), Counter(), None, 0
    device = torch.device(cfg.MODEL.DEVICE)
    for image, fields in iter_inputs(cfg, args):
        analysis = make(InferenceTracingWrapper(model, [fields]), (image.to(device),))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        totals += analysis.total()
        by_op.update(analysis.by_operator())
        unsupported.update(analysis.unsupported_ops())
        first = first or analysis
        n += 1
    by_op = Counter({k: v / n for k, v in by_op.items()})
    return {"total": totals / n, "by_operator": by_op, "unsupported": unsupported, "first": first}


def run_flop(model: torch.nn.Module, cfg: CfgNode, args: argparse.Namespace) -> dict[str, Any]:
    res = _analyse(model, cfg, args, flop_count_analysis)
    logger.info("Per-module FLOPs of the first input:\n%s", flop_count_table(res["first"], args.max_depth))
    if res["unsupported"]:
        logger.warning("Ops not counted (no FLOP handler): %s", dict(res["unsupported"]))
    ops = ", ".join(f"{k}: {v / 1e9:.3f}G" for k, v in res["by_operator"].most_common())
    logger.info("FLOPs (multiply-adds): %.2fG on average; by operator: %s", res["total"] / 1e9, ops)
    return {"flops": res["total"], "flops_by_operator": dict(res["by_operator"])}


def run_activation(model: torch.nn.Module, cfg: CfgNode, args: argparse.Namespace) -> dict[str, Any]:
    # fvcore counts the outputs of convolutions, matmuls and attention only; other ops are skipped.
    res = _analyse(model, cfg, args, activation_count_analysis)
    logger.info("Activations: %.2fM on average", res["total"] / 1e6)
    return {"activations": res["total"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the requested tasks; returns their numbers (``parameters``, ``flops``, ``activations``)."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    register_datasets(cfg)  # their metadata gives the thing classes, and their images the inputs
    needs_forward = bool({"flop", "activation"} & set(args.tasks))
    if needs_forward:
        model = build_model(cfg).eval()
    else:
        with skip_weight_init():  # values never used: skip the slow random initialisation
            model = build_model(cfg).eval()
    results: dict[str, Any] = {}
    with torch.no_grad():
        for task in args.tasks:
            if task == "parameter":
                results.update(run_parameter(model, args))
            elif task == "flop":
                results.update(run_flop(model, cfg, args))
            elif task == "activation":
                results.update(run_activation(model, cfg, args))
            else:
                logger.info("Model structure:\n%s", model)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    main()
