"""Command line and process setup shared by the tools: argument parser, ``default_setup``, DDP."""

from __future__ import annotations

import argparse
import glob
import logging
import os
import time

import torch
from torch import nn

from maskformer.utils import comm
from maskformer.utils.env import collect_env_info, seed_all_rng
from maskformer.utils.logger import setup_logger

from .cluster import slurm_job, threads_report

__all__ = [
    "RunFolderError",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "previous_run_files",
    "resolve_output_dir",
]


def default_argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """The official ``train_net.py`` flags.

    ``--config-file``, ``--resume``, ``--eval-only``, ``--num-gpus``, ``--num-machines``,
    ``--machine-rank``, ``--dist-url``, trailing ``KEY VALUE`` config overrides (``opts``), and
    this project's ``--dist-timeout``.
    Without CUDA, ``--num-gpus N`` starts N CPU processes.
    """
    parser = argparse.ArgumentParser(
        epilog=epilog
        or (
            "Examples:\n  train_net.py --config-file cfg.yaml --num-gpus 8\n"
            "  train_net.py --config-file cfg.yaml --eval-only MODEL.WEIGHTS /path/to/model.pth"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="resume from OUTPUT_DIR/last_checkpoint if it exists (model, optimizer, scheduler, "
        "iteration, RNG); otherwise start from MODEL.WEIGHTS",
    )
    parser.add_argument("--eval-only", action="store_true", help="perform evaluation only")
    parser.add_argument(
        "--new-run",
        action="store_true",
        help="when OUTPUT_DIR holds another run, train into a new timestamped OUTPUT_DIR/run_<time> "
        "instead of refusing to start",
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="number of processes per machine")
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine")
    parser.add_argument(
        "--dist-url",
        default="auto",
        help="initialization URL for the process group ('auto': a free local port, one machine only)",
    )
    parser.add_argument(
        "--dist-timeout",
        type=_positive_minutes,
        default=10.0,
        metavar="MINUTES",
        help="stop the job when a process waits this long for a hung peer (default 10; raise it when "
        "the main process evaluates for longer while the others wait)",
    )
    parser.add_argument(
        "opts",
        default=None,
        nargs=argparse.REMAINDER,
        help="config overrides as KEY VALUE pairs, e.g. SOLVER.IMS_PER_BATCH 8",
    )
    return parser


class RunFolderError(RuntimeError):
    """A new training run would write into the folder of another run."""


_RUN_FILE_PATTERNS = ("last_checkpoint", "model_*.pth", "metrics.json", "events.out.tfevents.*")


def previous_run_files(output_dir: str) -> list[str]:
    """Files of an earlier training run in ``output_dir`` (checkpoints, metrics, TensorBoard events)."""
    found = []
    for pattern in _RUN_FILE_PATTERNS:
        found += sorted(glob.glob(os.path.join(glob.escape(output_dir), pattern)))
    return [os.path.basename(path) for path in found]


def resolve_output_dir(cfg, args: argparse.Namespace):
    """The config of this run, refusing to mix it with another run's files in OUTPUT_DIR.

    A training run may start in OUTPUT_DIR when the folder holds no earlier run's checkpoints,
    metrics.json or TensorBoard events, or when ``--resume`` continues the run there (from its
    newest loadable checkpoint, or from iteration 0 when it was stopped before its first one;
    the Checkpointer refuses when checkpoints exist but none loads). Otherwise ``--new-run``
    trains into ``OUTPUT_DIR/run_<time>`` (one timestamp, chosen by the main process, for all
    processes), and without it the run refuses to start. ``--eval-only`` writes no checkpoints or
    metrics and is always allowed.

    Returns:
        ``cfg`` itself, or a frozen copy whose OUTPUT_DIR is the new sub-run folder.

    Raises:
        RunFolderError: naming the folder, the files found and the three ways forward.
    """
    output_dir = cfg.OUTPUT_DIR
    if getattr(args, "eval_only", False) or not output_dir:
        return cfg
    # The main process decides for all (machines need not share a file system).
    found = comm.broadcast_object([] if getattr(args, "resume", False) else previous_run_files(output_dir))
    if not found:
        return cfg
    if not getattr(args, "new_run", False):
        raise RunFolderError(
            f"OUTPUT_DIR '{output_dir}' holds another run ({', '.join(found[:6])}); starting a new "
            "run there would mix their checkpoints, metrics.json and TensorBoard events. Pass --resume "
            "to continue that run (from its newest loadable checkpoint), --new-run to train into a new "
            f"timestamped folder under it, or set OUTPUT_DIR to an empty folder."
        )
    stamp = comm.broadcast_object(time.strftime("%Y%m%d-%H%M%S"))
    cfg = cfg.clone()
    cfg.defrost()
    cfg.OUTPUT_DIR = os.path.join(output_dir, f"run_{stamp}")
    cfg.freeze()
    logging.getLogger("maskformer").info(
        "OUTPUT_DIR '%s' holds another run: this run writes to '%s' (--new-run).", output_dir, cfg.OUTPUT_DIR
    )
    return cfg


def default_setup(cfg, args: argparse.Namespace) -> logging.Logger:
    """Output directory, per-rank logging, config dump, seeding, environment report, cuDNN.

    Args:
        cfg: the full config (OUTPUT_DIR, SEED, CUDNN_BENCHMARK are read).
        args: the parsed command line (``config_file`` and ``eval_only`` are read if present).

    Returns:
        The configured ``maskformer`` logger.
    """
    output_dir = cfg.OUTPUT_DIR
    rank = comm.get_rank()
    if comm.is_main_process() and output_dir:
        os.makedirs(output_dir, exist_ok=True)
    comm.synchronize()
    logger = setup_logger(output_dir or None, distributed_rank=rank, name="maskformer")
    logger.info(f"Rank of current process: {rank}. World size: {comm.get_world_size()}")
    logger.info("Environment info:\n" + collect_env_info())
    logger.info(threads_report())
    job = slurm_job()
    if job is not None:
        logger.info(
            f"SLURM task {job.rank} of {job.world_size} (node {job.node_rank} of {job.num_nodes}, "
            f"local rank {job.local_rank}); default rendezvous {job.dist_url}"
        )
    logger.info(f"Command line arguments: {args}")
    config_file = getattr(args, "config_file", "")
    if config_file:
        with open(config_file) as f:
            logger.info(f"Contents of args.config_file={config_file}:\n{f.read()}")
    if comm.is_main_process() and output_dir:
        path = os.path.join(output_dir, "config.yaml")
        with open(path, "w") as f:
            f.write(cfg.dump())
        logger.info(f"Full config saved to {path}")
    # SEED < 0: one random base seed shared by all processes; each process offsets it by its rank
    # so that per-process randomness (dropout, augmentation) differs but is reproducible together.
    base_seed = comm.shared_random_seed() if cfg.SEED < 0 else cfg.SEED
    seed_all_rng(base_seed + rank)
    logger.info(f"Using seed {base_seed + rank} (SEED={cfg.SEED}, rank offset {rank})")
    if not getattr(args, "eval_only", False):
        torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return logger


def create_ddp_model(model: nn.Module, **kwargs) -> nn.Module:
    """Wraps ``model`` in DistributedDataParallel when there are several processes.

    Args:
        model: the model, already on its device.
        **kwargs: extra DistributedDataParallel arguments.
    """
    if comm.get_world_size() == 1:
        return model
    if next(model.parameters()).device.type == "cuda":
        kwargs.setdefault("device_ids", [comm.get_local_rank()])
    kwargs.setdefault("find_unused_parameters", False)
    kwargs.setdefault("broadcast_buffers", False)
    return nn.parallel.DistributedDataParallel(model, **kwargs)


def _positive_minutes(text: str) -> float:
    """``--dist-timeout`` in minutes, > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--dist-timeout must be > 0 minutes, got {text}")
    return value
