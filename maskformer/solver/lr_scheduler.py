"""Iteration-based learning-rate schedules with warmup.

Each schedule gives, at iteration ``t`` (the scheduler is stepped once per iteration),

    lr(t) = base_lr * warmup(t) * decay(t)

with ``warmup(t) = 1`` for ``t >= warmup_iters``, else ``warmup_factor`` ("constant") or
``warmup_factor * (1 - t / warmup_iters) + t / warmup_iters`` ("linear"); and ``decay`` is

- WarmupMultiStepLR: ``gamma ** (number of milestones <= t)``;
- WarmupPolyLR (Mask2Former/DeepLab): ``(1 - t / max_iters) ** power``, floored at
  ``constant_ending`` once below it (only when ``constant_ending > 0`` and warmup is over);
- WarmupCosineLR: ``end + (1 - end) * 0.5 * (1 + cos(pi * t / max_iters))`` with
  ``end = base_lr_end / base_lr``;
- WarmupStepWithFixedGammaLR (Detectron2, ``SOLVER.NUM_DECAYS``): ``gamma ** k`` on the k-th of
  ``num_decays + 1`` equal parts of ``max_iters`` (fvcore's ``StepWithFixedGammaParamScheduler``).

With ``rescale_interval`` (Detectron2's ``SOLVER.RESCALE_INTERVAL``; not for the poly schedule,
which Detectron2 does not rescale either), ``decay`` is evaluated after warmup at
``(t - warmup_iters) * max_iters / (max_iters - warmup_iters)``: the whole decay schedule is
stretched over the iterations that follow warmup instead of starting at iteration 0.

``state_dict()`` / ``load_state_dict()`` come from ``torch.optim.lr_scheduler.LRScheduler``.
"""

from __future__ import annotations

import bisect
import logging
import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "WarmupCosineLR",
    "WarmupMultiStepLR",
    "WarmupPolyLR",
    "WarmupStepWithFixedGammaLR",
    "warmup_factor_at_iter",
]

WARMUP_METHODS = ("constant", "linear")
logger = logging.getLogger(__name__)


def warmup_factor_at_iter(method: str, it: int, warmup_iters: int, warmup_factor: float) -> float:
    """The warmup multiplier at iteration ``it`` (see the module docstring)."""
    if it >= warmup_iters:
        return 1.0
    if method == "constant":
        return warmup_factor
    if method == "linear":
        alpha = it / warmup_iters
        return warmup_factor * (1 - alpha) + alpha
    raise ValueError(f"SOLVER.WARMUP_METHOD={method!r} is unknown; use one of {WARMUP_METHODS}.")


class _WarmupLR(LRScheduler):
    """Base class: ``lr = base_lr * warmup(t) * decay(t')``; subclasses define ``_decay``.

    ``t' = t``, or with ``rescale_interval`` the post-warmup iteration stretched to ``max_iters``
    (module docstring), which then must exceed ``warmup_iters``.

    Args:
        optimizer: the optimizer; each group's lr at construction is its ``base_lr``.
        warmup_factor: SOLVER.WARMUP_FACTOR.
        warmup_iters: SOLVER.WARMUP_ITERS.
        warmup_method: SOLVER.WARMUP_METHOD, "constant" or "linear".
        last_epoch: the last finished iteration (-1: start).
        max_iters: SOLVER.MAX_ITER (the schedules that decay over it set it).
        rescale_interval: SOLVER.RESCALE_INTERVAL.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_factor: float = 0.001,
        warmup_iters: int = 1000,
        warmup_method: str = "linear",
        last_epoch: int = -1,
        *,
        max_iters: int | None = None,
        rescale_interval: bool = False,
    ) -> None:
        warmup_factor_at_iter(warmup_method, 0, 1, warmup_factor)  # validates the method name
        if rescale_interval and (max_iters is None or max_iters <= warmup_iters):
            raise ValueError(
                f"SOLVER.RESCALE_INTERVAL needs SOLVER.MAX_ITER ({max_iters}) > SOLVER.WARMUP_ITERS "
                f"({warmup_iters})."
            )
        self.warmup_factor = warmup_factor
        self.warmup_iters = warmup_iters
        self.warmup_method = warmup_method
        self.rescale_interval = rescale_interval
        if max_iters is not None:
            self.max_iters = max_iters
        super().__init__(optimizer, last_epoch)

    def _decay(self, it: float) -> float:
        raise NotImplementedError

    def _schedule_iter(self, it: int) -> float:
        """The iteration the decay is evaluated at (see the class docstring)."""
        if not self.rescale_interval or it < self.warmup_iters:
            return it
        return (it - self.warmup_iters) * self.max_iters / (self.max_iters - self.warmup_iters)

    def _factor(self, it: int) -> float:
        warmup = warmup_factor_at_iter(self.warmup_method, it, self.warmup_iters, self.warmup_factor)
        return warmup * self._decay(self._schedule_iter(it))

    def get_lr(self) -> list[float]:
        factor = self._factor(self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]

    def load_state_dict(self, state_dict: dict) -> None:
        """Restores the schedule and sets the optimizer's lrs to its current values.

        torch only updates the lrs at the next ``step()``; setting them now makes a resumed
        first iteration use the right lr whatever order optimizer and scheduler are loaded in.
        Like Detectron2, the checkpoint's schedule is kept; a different ``max_iters`` is warned about.
        """
        saved, configured = state_dict.get("max_iters"), getattr(self, "max_iters", None)
        if saved is not None and configured is not None and saved != configured:
            logger.warning(
                f"The resumed LR scheduler was built for SOLVER.MAX_ITER={saved}, but the config has "
                f"SOLVER.MAX_ITER={configured}; keeping the checkpoint's schedule (max_iters={saved}). "
                "Start a new run (without --resume) to use the configured schedule."
            )
        super().load_state_dict(state_dict)
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs


class WarmupMultiStepLR(_WarmupLR):
    """Step decay by ``gamma`` at each milestone iteration, after warmup.

    Args:
        optimizer: the optimizer.
        milestones: SOLVER.STEPS, increasing.
        gamma: SOLVER.GAMMA.
        **warmup: the base class's ``warmup_factor``, ``warmup_iters``, ``warmup_method``,
            ``last_epoch``, ``max_iters`` (needed with ``rescale_interval``), ``rescale_interval``.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, milestones: list[int], gamma: float = 0.1, **warmup: Any
    ) -> None:
        if list(milestones) != sorted(milestones):
            raise ValueError(f"SOLVER.STEPS must be increasing, got {list(milestones)}.")
        self.milestones = [int(m) for m in milestones]
        self.gamma = gamma
        super().__init__(optimizer, **warmup)

    def _decay(self, it: float) -> float:
        return self.gamma ** bisect.bisect_right(self.milestones, it)


class WarmupPolyLR(_WarmupLR):
    """Polynomial decay ``(1 - t / max_iters) ** power`` (the ADE20K / Cityscapes schedule).

    Args:
        optimizer: the optimizer.
        max_iters: SOLVER.MAX_ITER.
        power: SOLVER.POLY_LR_POWER.
        constant_ending: SOLVER.POLY_LR_CONSTANT_ENDING.
        **warmup: the base class's warmup arguments; no ``rescale_interval`` (DeepLab's schedule,
            which Detectron2 does not rescale either).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_iters: int,
        power: float = 0.9,
        constant_ending: float = 0.0,
        **warmup: Any,
    ) -> None:
        if warmup.get("rescale_interval"):
            raise ValueError("WarmupPolyLR does not rescale its interval (SOLVER.RESCALE_INTERVAL).")
        self.power = power
        self.constant_ending = constant_ending
        super().__init__(optimizer, max_iters=max_iters, **warmup)

    def _decay(self, it: float) -> float:
        return (1.0 - min(it, self.max_iters) / self.max_iters) ** self.power

    def _factor(self, it: int) -> float:
        warmup = warmup_factor_at_iter(self.warmup_method, it, self.warmup_iters, self.warmup_factor)
        decay = self._decay(it)
        if self.constant_ending > 0 and warmup == 1.0 and decay < self.constant_ending:
            return self.constant_ending
        return warmup * decay


class WarmupCosineLR(_WarmupLR):
    """Half-cosine decay from ``base_lr`` to ``base_lr * end_factor`` at ``max_iters``.

    Args:
        optimizer: the optimizer.
        max_iters: SOLVER.MAX_ITER.
        end_factor: SOLVER.BASE_LR_END / SOLVER.BASE_LR.
        **warmup: the base class's warmup arguments (``rescale_interval`` included).
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, max_iters: int, end_factor: float = 0.0, **warmup: Any
    ) -> None:
        self.end_factor = end_factor
        super().__init__(optimizer, max_iters=max_iters, **warmup)

    def _decay(self, it: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(it, self.max_iters) / self.max_iters))
        return self.end_factor + (1.0 - self.end_factor) * cosine


class WarmupStepWithFixedGammaLR(_WarmupLR):
    """``gamma ** k`` on the k-th of ``num_decays + 1`` equal parts of ``max_iters`` (Detectron2).

    The part index is ``int((t / max_iters + 1e-6) * (num_decays + 1))`` (fvcore's epsilon, which
    keeps a boundary such as 30000 of 90000 from rounding down), at most ``num_decays``.

    Args:
        optimizer: the optimizer.
        max_iters: SOLVER.MAX_ITER.
        gamma: SOLVER.GAMMA.
        num_decays: SOLVER.NUM_DECAYS.
        **warmup: the base class's warmup arguments (``rescale_interval`` included).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_iters: int,
        gamma: float = 0.1,
        num_decays: int = 3,
        **warmup: Any,
    ) -> None:
        if num_decays < 1 or max_iters < 1:
            raise ValueError(
                f"WarmupStepWithFixedGammaLR needs SOLVER.NUM_DECAYS >= 1 and SOLVER.MAX_ITER >= 1, "
                f"got {num_decays} and {max_iters}."
            )
        self.gamma = gamma
        self.num_decays = num_decays
        super().__init__(optimizer, max_iters=max_iters, **warmup)

    def _decay(self, it: float) -> float:
        part = int((it / self.max_iters + 1e-6) * (self.num_decays + 1))
        return self.gamma ** min(part, self.num_decays)
