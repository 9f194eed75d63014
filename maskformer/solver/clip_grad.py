"""Gradient clipping (SOLVER.CLIP_GRADIENTS).

Three clip types:

- ``"full_model"`` (official Mask2Former): the total ``norm_type`` norm of ALL gradients together
  is clipped to ``clip_value``;
- ``"norm"`` (Detectron2): each parameter's gradient norm is clipped separately;
- ``"value"`` (Detectron2): each gradient element is clamped to ``[-clip_value, clip_value]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["CLIP_TYPES", "GradClipper", "build_grad_clipper"]

GradClipper = Callable[[Iterable[nn.Parameter]], None]


def _clip_full_model(clip_value: float, norm_type: float) -> GradClipper:
    # On CPU and CUDA clip_grad_norm_ takes every gradient's norm in one torch._foreach_norm
    # call and rescales them with one torch._foreach_mul_.
    def clip(params: Iterable[nn.Parameter]) -> None:
        torch.nn.utils.clip_grad_norm_(list(params), clip_value, norm_type)

    return clip


def _clip_per_param_norm(clip_value: float, norm_type: float) -> GradClipper:
    # clip_grad_norm_ on each parameter alone, batched: one norm call and one rescale for all.
    def clip(params: Iterable[nn.Parameter]) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        scales = torch._foreach_add(torch._foreach_norm(grads, norm_type), 1e-6)
        torch._foreach_reciprocal_(scales)
        torch._foreach_mul_(scales, clip_value)
        torch._foreach_clamp_max_(scales, 1.0)  # min(clip_value / (norm + 1e-6), 1) per gradient
        torch._foreach_mul_(grads, scales)

    return clip


def _clip_value(clip_value: float, norm_type: float) -> GradClipper:
    def clip(params: Iterable[nn.Parameter]) -> None:
        torch.nn.utils.clip_grad_value_(list(params), clip_value)

    return clip


CLIP_TYPES: dict[str, Callable[[float, float], GradClipper]] = {
    "full_model": _clip_full_model,
    "norm": _clip_per_param_norm,
    "value": _clip_value,
}


def build_grad_clipper(clip_type: str, clip_value: float, norm_type: float = 2.0) -> GradClipper:
    """A function that clips the gradients of the parameters it is given, in place.

    Args:
        clip_type: SOLVER.CLIP_GRADIENTS.CLIP_TYPE, one of ``CLIP_TYPES``.
        clip_value: SOLVER.CLIP_GRADIENTS.CLIP_VALUE (max norm, or max absolute value).
        norm_type: SOLVER.CLIP_GRADIENTS.NORM_TYPE (p of the p-norm; ``inf`` allowed).

    Raises:
        ValueError: for an unknown clip type or a non-positive clip value.
    """
    if clip_type not in CLIP_TYPES:
        raise ValueError(
            f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE={clip_type!r} is unknown; use one of {sorted(CLIP_TYPES)}."
        )
    if clip_value <= 0:
        raise ValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_VALUE must be > 0, got {clip_value}.")
    return CLIP_TYPES[clip_type](float(clip_value), float(norm_type))
