#!/usr/bin/env python
"""Train or evaluate MaskFormer / Mask2Former with a YAML config.

The official command line::

    python tools/train_net.py --config-file configs/.../x.yaml [--resume] [--eval-only] \
        [--num-gpus N] [--num-machines M --machine-rank R --dist-url URL] [KEY VALUE ...]

Also runs under ``torchrun --nproc_per_node N tools/train_net.py ...`` and under SLURM's ``srun``
(one task per process). On a machine without GPUs, ``--num-gpus N`` starts N CPU processes that
talk over gloo. Datasets declared in the config (``DATASETS.REGISTER``) are registered in every
process; the TRAIN and TEST datasets are checked before the first iteration
(``DATASETS.PREFLIGHT_CHECK``). A new run refuses an OUTPUT_DIR holding another run unless
``--resume`` continues it or ``--new-run`` starts a timestamped sub-folder.
"""

from __future__ import annotations

import argparse
import datetime
import logging

from maskformer.checkpoint import Checkpointer
from maskformer.config import CfgNode, load_config
from maskformer.data.datasets.builtin import register_datasets
from maskformer.data.preflight import check_datasets
from maskformer.engine import Trainer, default_argument_parser, default_setup, launch
from maskformer.engine.defaults import resolve_output_dir
from maskformer.engine.visualize import save_prediction_visualizations
from maskformer.evaluation import verify_results
from maskformer.utils import comm


def setup(args: argparse.Namespace) -> CfgNode:
    """Loads the config, checks the run folder, then sets up logging and seeds of this process."""
    cfg = resolve_output_dir(load_config(args.config_file, args.opts), args)
    default_setup(cfg, args)
    return cfg


def main(args: argparse.Namespace) -> dict:
    cfg = setup(args)
    # Built-in splits and DATASETS.REGISTER entries, in every process (spawned ones run main too).
    register_datasets(cfg)
    names = [] if args.eval_only else list(cfg.DATASETS.TRAIN)
    check_datasets(cfg, names + list(cfg.DATASETS.TEST))
    if args.eval_only:
        model = Trainer.build_model(cfg)
        Checkpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
        model = trainer.model
    if comm.is_main_process():
        # TEST.NUM_VISUALIZATIONS test images, to OUTPUT_DIR/visualizations/ and TensorBoard.
        paths = save_prediction_visualizations(cfg, model, iteration=cfg.SOLVER.MAX_ITER)
        logging.getLogger("maskformer").info("Wrote %d prediction visualisations", len(paths))
    return results


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
        timeout=datetime.timedelta(minutes=args.dist_timeout),
        # CPU models talk over gloo even on a machine that has GPUs.
        backend="gloo" if load_config(args.config_file, args.opts).MODEL.DEVICE == "cpu" else None,
    )
