"""Builders for the optimizer, the LR scheduler and the gradient clipper from a config.

Optimizers (SOLVER.OPTIMIZER) and schedules (SOLVER.LR_SCHEDULER_NAME) are looked up in
``OPTIMIZER_REGISTRY`` / ``LR_SCHEDULER_REGISTRY``; a user adds one with
``@LR_SCHEDULER_REGISTRY.register()`` on a ``fn(cfg, optimizer) -> LRScheduler``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from maskformer.registry import Registry

from .clip_grad import GradClipper, build_grad_clipper
from .lr_scheduler import WarmupCosineLR, WarmupMultiStepLR, WarmupPolyLR, WarmupStepWithFixedGammaLR
from .param_groups import get_default_optimizer_params

__all__ = [
    "LR_SCHEDULER_REGISTRY",
    "OPTIMIZER_REGISTRY",
    "build_gradient_clipper",
    "build_lr_scheduler",
    "build_optimizer",
]

logger = logging.getLogger(__name__)

OPTIMIZER_REGISTRY = Registry("OPTIMIZER")
LR_SCHEDULER_REGISTRY = Registry("LR_SCHEDULER")


def _fused_if_supported(
    optimizer_class: type[torch.optim.Optimizer], params: list[dict[str, Any]], **kwargs: Any
) -> torch.optim.Optimizer:
    """``optimizer_class`` with its fused kernel, else torch's default implementation.

    The fused kernel updates every tensor in one pass: on CPU ~4x faster than the per-tensor loop
    for AdamW and ~1.6x for SGD, with the same results to float rounding (torch's multi-tensor
    ``foreach`` path is slower than the loop on CPU). Devices without a fused kernel get torch's
    default. The choice survives ``load_state_dict``, whose saved param groups carry their own flags.
    """
    try:
        optimizer = optimizer_class(params, fused=True, **kwargs)
    except RuntimeError:
        return optimizer_class(params, **kwargs)

    def keep_fused(opt: torch.optim.Optimizer) -> None:
        for group in opt.param_groups:
            group.update(fused=True, foreach=None)

    optimizer.register_load_state_dict_post_hook(keep_fused)
    return optimizer


@OPTIMIZER_REGISTRY.register(name="ADAMW")
def _adamw(cfg, params: list[dict[str, Any]]) -> torch.optim.Optimizer:
    return _fused_if_supported(torch.optim.AdamW, params, lr=cfg.SOLVER.BASE_LR)


@OPTIMIZER_REGISTRY.register(name="SGD")
def _sgd(cfg, params: list[dict[str, Any]]) -> torch.optim.Optimizer:
    return _fused_if_supported(
        torch.optim.SGD,
        params,
        lr=cfg.SOLVER.BASE_LR,
        momentum=cfg.SOLVER.MOMENTUM,
        nesterov=cfg.SOLVER.NESTEROV,
    )


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of SOLVER.OPTIMIZER over the parameter groups of ``param_groups.py``.

    Args:
        cfg: the config (SOLVER.*).
        model: the model, not yet wrapped in DistributedDataParallel.
    """
    solver = cfg.SOLVER
    params = get_default_optimizer_params(
        model,
        base_lr=solver.BASE_LR,
        weight_decay=solver.WEIGHT_DECAY,
        weight_decay_norm=solver.WEIGHT_DECAY_NORM,
        weight_decay_embed=solver.WEIGHT_DECAY_EMBED,
        backbone_multiplier=solver.BACKBONE_MULTIPLIER,
        bias_lr_factor=solver.BIAS_LR_FACTOR,
        weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
    )
    name = solver.OPTIMIZER.upper()
    if name not in OPTIMIZER_REGISTRY:
        raise ValueError(
            f"SOLVER.OPTIMIZER={solver.OPTIMIZER!r} is unknown; use one of {OPTIMIZER_REGISTRY.keys()}."
        )
    return OPTIMIZER_REGISTRY.get(name)(cfg, params)


def _warmup_kwargs(cfg) -> dict[str, Any]:
    """Warmup settings, and Detectron2's RESCALE_INTERVAL (its own schedules only)."""
    return {
        "warmup_factor": cfg.SOLVER.WARMUP_FACTOR,
        "warmup_iters": cfg.SOLVER.WARMUP_ITERS,
        "warmup_method": cfg.SOLVER.WARMUP_METHOD,
        "rescale_interval": cfg.SOLVER.RESCALE_INTERVAL,
    }


@LR_SCHEDULER_REGISTRY.register(name="WarmupMultiStepLR")
def _multistep(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    steps = [s for s in cfg.SOLVER.STEPS if s <= cfg.SOLVER.MAX_ITER]
    return WarmupMultiStepLR(
        optimizer, steps, cfg.SOLVER.GAMMA, max_iters=cfg.SOLVER.MAX_ITER, **_warmup_kwargs(cfg)
    )


@LR_SCHEDULER_REGISTRY.register(name="WarmupStepWithFixedGammaLR")
def _fixed_gamma(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    return WarmupStepWithFixedGammaLR(
        optimizer, cfg.SOLVER.MAX_ITER, cfg.SOLVER.GAMMA, cfg.SOLVER.NUM_DECAYS, **_warmup_kwargs(cfg)
    )


@LR_SCHEDULER_REGISTRY.register(name="WarmupPolyLR")
def _poly(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    if cfg.SOLVER.RESCALE_INTERVAL:
        logger.warning(
            "SOLVER.RESCALE_INTERVAL has no effect with WarmupPolyLR (as in Detectron2, whose "
            "rescaling applies to its own schedules: multi-step, cosine, step with fixed gamma)."
        )
    warmup = {k: v for k, v in _warmup_kwargs(cfg).items() if k != "rescale_interval"}
    return WarmupPolyLR(
        optimizer,
        cfg.SOLVER.MAX_ITER,
        power=cfg.SOLVER.POLY_LR_POWER,
        constant_ending=cfg.SOLVER.POLY_LR_CONSTANT_ENDING,
        **warmup,
    )


@LR_SCHEDULER_REGISTRY.register(name="WarmupCosineLR")
def _cosine(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    end_factor = cfg.SOLVER.BASE_LR_END / cfg.SOLVER.BASE_LR if cfg.SOLVER.BASE_LR > 0 else 0.0
    return WarmupCosineLR(optimizer, cfg.SOLVER.MAX_ITER, end_factor=end_factor, **_warmup_kwargs(cfg))


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    """The schedule named by SOLVER.LR_SCHEDULER_NAME (stepped once per iteration)."""
    name = cfg.SOLVER.LR_SCHEDULER_NAME
    if name not in LR_SCHEDULER_REGISTRY:
        raise ValueError(
            f"SOLVER.LR_SCHEDULER_NAME={name!r} is unknown; use one of {LR_SCHEDULER_REGISTRY.keys()}."
        )
    return LR_SCHEDULER_REGISTRY.get(name)(cfg, optimizer)


def build_gradient_clipper(cfg) -> GradClipper | None:
    """The clipper of SOLVER.CLIP_GRADIENTS, or None when clipping is disabled."""
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if not clip.ENABLED:
        return None
    return build_grad_clipper(clip.CLIP_TYPE, clip.CLIP_VALUE, clip.NORM_TYPE)
