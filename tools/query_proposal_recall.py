#!/usr/bin/env python
"""Learnable queries as region proposals (Mask2Former Figure 3): class-agnostic AR@100 per decoder layer.

    python tools/query_proposal_recall.py \
        --config-file configs/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml \
        MODEL.WEIGHTS model_final.pth [--dataset coco_2017_val] [KEY VALUE ...]

Layer 0 is the prediction from the learnable queries before the first decoder layer. The dataset
(default ``DATASETS.TEST[0]``) needs COCO instance annotations (metadata ``json_file``): COCO
instance, ADE20K / Cityscapes instance or the shapes instance split.
"""

from __future__ import annotations

import argparse
import json
import logging

from maskformer.checkpoint import Checkpointer
from maskformer.config import load_config
from maskformer.data import MetadataCatalog, build_test_loader
from maskformer.data.datasets.builtin import register_datasets
from maskformer.evaluation import inference_on_dataset
from maskformer.evaluation.proposal_recall import QueryProposalRecall, record_head_outputs
from maskformer.modeling import build_model

logger = logging.getLogger("maskformer.query_proposal_recall")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
    parser.add_argument("--dataset", help="a registered dataset with instance annotations")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Prints and returns ``{"AR@100-layer<i>": recall}`` for every decoder layer."""
    args = parse_args(argv)
    cfg = load_config(args.config_file, args.opts)
    register_datasets(cfg)
    dataset = args.dataset or (cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None)
    if dataset is None:
        raise SystemExit(f"{args.config_file}: DATASETS.TEST is empty; pass --dataset NAME.")
    json_file = MetadataCatalog.get(dataset).get("json_file")
    if not json_file:
        raise SystemExit(
            f"Dataset {dataset!r} has no instance annotations (metadata json_file); pass --dataset with an "
            "instance split (e.g. coco_2017_val, shapes_val_instance)."
        )
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        Checkpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    with record_head_outputs(model) as head_outputs:
        evaluator = QueryProposalRecall(json_file, head_outputs)
        recalls = inference_on_dataset(model, build_test_loader(cfg, dataset), evaluator).get("proposals", {})
    print("| layer | AR@100 |\n| --- | --- |")
    for key, value in recalls.items():
        print(f"| {key.rsplit('layer', 1)[1]} | {value:.1f} |")
    logger.info("%s", json.dumps(recalls))
    return recalls


if __name__ == "__main__":
    main()
