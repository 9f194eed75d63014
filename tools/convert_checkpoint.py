#!/usr/bin/env python
"""Convert a checkpoint from any supported source to our names, as a plain .pth or .safetensors.

Sources (detected from the parameter names, or forced with ``--format``): official model-zoo
``.pkl``/``.pth`` (Detectron2 names), Detectron2 / MSRA ImageNet pickles (``R-50.pkl``),
torchvision and timm ResNets, official and timm Swin, HF transformers Mask2Former. The input may
also be a ``MODEL.WEIGHTS``-style name (``detectron2://...``, ``https://dl.fbaipublicfiles.com/...``).

Examples::

    # a backbone: names become backbone.* (Detectron2 names), classifier heads dropped
    python tools/convert_checkpoint.py resnet50-0676ba61.pth R-50.pth
    # checked against the model of a config: prints missing / unexpected / mismatched names
    python tools/convert_checkpoint.py hf_m2f/model.safetensors m2f.pth \\
        --config-file configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml --strict

    # our Mask2Former -> an HF transformers folder (config.json + model.safetensors) that
    # Mask2FormerForUniversalSegmentation.from_pretrained loads
    python tools/convert_checkpoint.py model_final.pth hf_m2f/ --to hf \\
        --config-file configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml

Only the model weights are written (no optimizer or training state).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys

from maskformer.checkpoint.convert import (
    AlignmentReport,
    align_state_dict_with_report,
    convert_to_detectron2_names,
    is_ignorable_name,
)
from maskformer.checkpoint.download import resolve_weights_path
from maskformer.checkpoint.export import export_model
from maskformer.checkpoint.formats import load_checkpoint_file

logger = logging.getLogger("maskformer.convert_checkpoint")

FORMATS = (
    "auto",
    "detectron2",
    "msra",
    "torchvision_resnet",
    "swin_official",
    "timm_swin",
    "hf_mask2former",
    "hf_maskformer",
)
# Names of a whole model; anything else is a backbone-only file.
_FULL_MODEL = re.compile(r"^(backbone|sem_seg_head|criterion)\.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help=".pkl / .pth / .safetensors file or MODEL.WEIGHTS-style URL name")
    parser.add_argument("output", help="output .pth or .safetensors file (a folder with --to hf)")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="source naming (auto: detect)")
    parser.add_argument("--config-file", default="", metavar="FILE", help="align with this config's model")
    parser.add_argument(
        "--strict", action="store_true", help="with --config-file: fail unless every name fits the model"
    )
    parser.add_argument(
        "--to",
        default="ours",
        choices=("ours", "hf"),
        help="ours: our names; hf: an HF Mask2Former save_pretrained folder (needs --config-file)",
    )
    parser.add_argument(
        "--opts", nargs="+", default=[], metavar="KEY VALUE", help="config overrides, e.g. --opts MODEL.X 1"
    )
    args = parser.parse_args(argv)
    if args.strict and not args.config_file:
        parser.error("--strict needs --config-file (the model to check the names against)")
    if args.to == "hf":
        if not args.config_file:
            parser.error("--to hf needs --config-file (the model whose HF config is written)")
    elif not args.output.endswith((".pth", ".pt", ".safetensors")):
        parser.error(f"output '{args.output}' must end with .pth, .pt or .safetensors")
    return args


def _build_model(config_file: str, opts: list[str]):
    """``(cfg, model)`` of the config, the model with uninitialised weights."""
    from maskformer.config import load_config
    from maskformer.data import register_builtin_datasets
    from maskformer.modeling import build_model
    from maskformer.utils.analysis import skip_weight_init

    cfg = load_config(config_file, opts, freeze=False)
    cfg.MODEL.DEVICE = "cpu"
    register_builtin_datasets()  # the thing classes of the config's datasets
    with skip_weight_init():  # only the parameter names and shapes are used
        return cfg, build_model(cfg)


def convert(args: argparse.Namespace) -> AlignmentReport | None:
    """Convert ``args.input`` to ``args.output``; returns the alignment report with a config."""
    data = load_checkpoint_file(resolve_weights_path(args.input))
    state = data["model"]
    fmt = None if args.format == "auto" else args.format
    renamed, fmt = convert_to_detectron2_names(state, fmt)
    logger.info("Read %d tensors from %s (format '%s').", len(state), args.input, fmt)
    if args.config_file:
        cfg, model = _build_model(args.config_file, args.opts)
        aligned, report = align_state_dict_with_report(state, model, fmt)
        logger.info(report.format())
        if (args.strict or args.to == "hf") and not report.is_complete:
            raise SystemExit(f"{args.input} does not fit {args.config_file} exactly (see the report above).")
        out = aligned
        if args.to == "hf":
            from maskformer.checkpoint.hf_export import save_hf_mask2former

            model.load_state_dict(aligned, strict=False)  # Swin's relative_position_index is built
            save_hf_mask2former(model, cfg, args.output)
            logger.info("Wrote an HF Mask2Former folder to %s.", args.output)
            return report
    else:
        report = None
        if any(_FULL_MODEL.match(k) for k in renamed):
            out = renamed
        else:  # a backbone: drop its classifier head, put it under backbone.
            out = {"backbone." + k: v for k, v in renamed.items() if not is_ignorable_name(k)}
    export_model(out, args.output)
    logger.info("Wrote %d tensors to %s.", len(out), args.output)
    return report


def main(argv: list[str] | None = None) -> AlignmentReport | None:
    return convert(parse_args(argv))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    main()
