"""``SOLVER.REFERENCE_WORLD_SIZE``: rescale a config written for N processes to the actual number.

Detectron2's rule (``DefaultTrainer.auto_scale_workers``, from "ImageNet in 1 hour"): the
per-process batch ``IMS_PER_BATCH / REFERENCE_WORLD_SIZE`` is kept, so with ``scale = world_size /
REFERENCE_WORLD_SIZE`` the total batch and the learning rate are multiplied by ``scale`` and every
length in iterations (``MAX_ITER``, ``WARMUP_ITERS``, ``STEPS``, ``CHECKPOINT_PERIOD``,
``TEST.EVAL_PERIOD``) is divided by it, rounded to the nearest integer.
"""

from __future__ import annotations

import logging

__all__ = ["auto_scale_workers"]

logger = logging.getLogger(__name__)


def auto_scale_workers(cfg, world_size: int):
    """Returns ``cfg`` rescaled to ``world_size`` processes (``cfg`` itself when nothing changes).

    Args:
        cfg: the config; not modified (a rescaled clone is returned, frozen if ``cfg`` was).
        world_size: the number of training processes.

    Raises:
        ValueError: ``SOLVER.IMS_PER_BATCH`` is not a multiple of ``SOLVER.REFERENCE_WORLD_SIZE``.
    """
    reference = cfg.SOLVER.REFERENCE_WORLD_SIZE
    if reference == 0 or reference == world_size:
        return cfg
    if reference < 0 or cfg.SOLVER.IMS_PER_BATCH % reference != 0:
        raise ValueError(
            f"SOLVER.REFERENCE_WORLD_SIZE={reference} must be positive and divide SOLVER.IMS_PER_BATCH="
            f"{cfg.SOLVER.IMS_PER_BATCH} (the per-process batch it keeps); fix it or set it to 0."
        )
    scale = world_size / reference
    frozen = cfg.is_frozen()
    cfg = cfg.clone()
    cfg.defrost()
    solver = cfg.SOLVER
    solver.IMS_PER_BATCH = int(round(solver.IMS_PER_BATCH * scale))
    solver.BASE_LR = solver.BASE_LR * scale
    solver.MAX_ITER = int(round(solver.MAX_ITER / scale))
    solver.WARMUP_ITERS = int(round(solver.WARMUP_ITERS / scale))
    solver.STEPS = [int(round(s / scale)) for s in solver.STEPS]
    solver.CHECKPOINT_PERIOD = int(round(solver.CHECKPOINT_PERIOD / scale))
    cfg.TEST.EVAL_PERIOD = int(round(cfg.TEST.EVAL_PERIOD / scale))
    solver.REFERENCE_WORLD_SIZE = world_size  # rescaling again is then a no-op
    logger.info(
        f"SOLVER.REFERENCE_WORLD_SIZE={reference}, running on {world_size} processes: auto-scaled to "
        f"IMS_PER_BATCH={solver.IMS_PER_BATCH}, BASE_LR={solver.BASE_LR:g}, MAX_ITER={solver.MAX_ITER}, "
        f"WARMUP_ITERS={solver.WARMUP_ITERS}, STEPS={list(solver.STEPS)}, "
        f"CHECKPOINT_PERIOD={solver.CHECKPOINT_PERIOD}, TEST.EVAL_PERIOD={cfg.TEST.EVAL_PERIOD}."
    )
    if frozen:
        cfg.freeze()
    return cfg
