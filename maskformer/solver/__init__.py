"""Optimizers, parameter groups, gradient clipping and learning-rate schedules."""

from .build import (
    LR_SCHEDULER_REGISTRY,
    OPTIMIZER_REGISTRY,
    build_gradient_clipper,
    build_lr_scheduler,
    build_optimizer,
)
from .clip_grad import CLIP_TYPES, GradClipper, build_grad_clipper
from .lr_scheduler import (
    WarmupCosineLR,
    WarmupMultiStepLR,
    WarmupPolyLR,
    WarmupStepWithFixedGammaLR,
    warmup_factor_at_iter,
)
from .param_groups import get_default_optimizer_params, norm_module_types

__all__ = [
    "CLIP_TYPES",
    "LR_SCHEDULER_REGISTRY",
    "OPTIMIZER_REGISTRY",
    "GradClipper",
    "WarmupCosineLR",
    "WarmupMultiStepLR",
    "WarmupPolyLR",
    "WarmupStepWithFixedGammaLR",
    "build_grad_clipper",
    "build_gradient_clipper",
    "build_lr_scheduler",
    "build_optimizer",
    "get_default_optimizer_params",
    "norm_module_types",
    "warmup_factor_at_iter",
]
