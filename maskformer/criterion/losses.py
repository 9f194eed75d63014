"""Mask losses, each in its two forms side by side: per-match (loss) and pairwise (matching cost).

The per-match form scores prediction ``i`` against target ``i`` and returns a scalar normalised
the official way: mean over points (or pixels) per mask, summed over masks, divided by
``num_masks``. The pairwise form scores every prediction against every target and returns a
``[Q, N]`` cost matrix whose entry ``(i, j)`` equals the per-mask loss of the pair ``(i, j)``
(mean over points, no division by ``num_masks``); ``tests/criterion/test_losses.py`` checks that
the diagonal of the pairwise form equals the per-match form.

``MaskLoss`` objects pair the two forms of one loss; they are registered in
``MASK_LOSS_REGISTRY`` under the names used by ``MODEL.MASK_FORMER.MASK_LOSS``
(``"sigmoid_ce"``: Mask2Former; ``"sigmoid_focal"``: MaskFormer). Dice is always added on top.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

from ..config import configurable
from ..config.configurable import WithoutOptions
from ..registry import Registry

__all__ = [
    "MASK_LOSS_REGISTRY",
    "MaskLoss",
    "SigmoidCELoss",
    "SigmoidFocalLoss",
    "build_mask_loss",
    "dice_loss",
    "pairwise_dice_loss",
    "pairwise_sigmoid_ce_loss",
    "pairwise_sigmoid_focal_loss",
    "sigmoid_ce_loss",
    "sigmoid_focal_loss",
]

MASK_LOSS_REGISTRY = Registry("MASK_LOSS")
MASK_LOSS_REGISTRY.__doc__ = "Per-pixel mask losses (per-match + pairwise forms), by MASK_LOSS name."


def sigmoid_ce_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Binary cross-entropy on logits, per-match form.

    Args:
        inputs: ``[N, P]`` mask logits at P points (or flattened pixels).
        targets: ``[N, P]`` binary (or soft) targets in ``[0, 1]``.
        num_masks: normaliser (number of target masks over the batch).

    Returns:
        Scalar: ``sum_n mean_p BCE(inputs, targets) / num_masks``.
    """
    loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    return loss.mean(1).sum() / num_masks


def pairwise_sigmoid_ce_loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits between every prediction and every target.

    BCE(x, t) = t * BCE(x, 1) + (1 - t) * BCE(x, 0), so the all-pairs sum over points is two
    matrix products instead of a ``[Q, N, P]`` tensor.

    Args:
        inputs: ``[Q, P]`` mask logits (or ``[B, Q, P]``: one cost matrix per image).
        targets: ``[N, P]`` binary targets (or ``[B, N, P]``).

    Returns:
        ``[Q, N]`` (or ``[B, Q, N]``): mean over points of the BCE of pair ``(q, n)``.
    """
    num_points = inputs.shape[-1]
    pos = F.binary_cross_entropy_with_logits(inputs, torch.ones_like(inputs), reduction="none")
    neg = F.binary_cross_entropy_with_logits(inputs, torch.zeros_like(inputs), reduction="none")
    # [Q, P] x [N, P] -> [Q, N]
    loss = pos @ targets.mT + neg @ (1 - targets).mT
    return loss / num_points


def sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    num_masks: float,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Sigmoid focal loss (RetinaNet), per-match form, as used by MaskFormer.

    Args:
        inputs: ``[N, P]`` mask logits.
        targets: ``[N, P]`` binary targets.
        num_masks: normaliser (number of target masks over the batch).
        alpha: weight of positives (``1 - alpha`` for negatives); a negative value disables it.
        gamma: focusing exponent on ``1 - p_t``.

    Returns:
        Scalar: ``sum_n mean_p FL(inputs, targets) / num_masks``.
    """
    prob = inputs.sigmoid()
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_masks


def pairwise_sigmoid_focal_loss(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss between every prediction and every (binary) target.

    For a binary target the focal loss is linear in ``t``: ``t * FL(x, 1) + (1 - t) * FL(x, 0)``.

    Args:
        inputs: ``[Q, P]`` mask logits (or ``[B, Q, P]``).
        targets: ``[N, P]`` binary targets (or ``[B, N, P]``).
        alpha: weight of positives; a negative value disables it.
        gamma: focusing exponent.

    Returns:
        ``[Q, N]`` (or ``[B, Q, N]``): mean over points of the focal loss of pair ``(q, n)``.
    """
    num_points = inputs.shape[-1]
    prob = inputs.sigmoid()
    focal_pos = (1 - prob) ** gamma * F.binary_cross_entropy_with_logits(
        inputs, torch.ones_like(inputs), reduction="none"
    )
    focal_neg = prob**gamma * F.binary_cross_entropy_with_logits(
        inputs, torch.zeros_like(inputs), reduction="none"
    )
    if alpha >= 0:
        focal_pos = focal_pos * alpha
        focal_neg = focal_neg * (1 - alpha)
    # [Q, P] x [N, P] -> [Q, N]
    loss = focal_pos @ targets.mT + focal_neg @ (1 - targets).mT
    return loss / num_points


def dice_loss(inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Dice loss with the official +1 smoothing, per-match form.

    Args:
        inputs: ``[N, P]`` mask logits (a sigmoid is applied here).
        targets: ``[N, P]`` binary targets.
        num_masks: normaliser (number of target masks over the batch).

    Returns:
        Scalar: ``sum_n (1 - (2 * sum(p * t) + 1) / (sum(p) + sum(t) + 1)) / num_masks``.
    """
    prob = inputs.sigmoid().flatten(1)
    targets = targets.flatten(1)
    numerator = 2 * (prob * targets).sum(-1)
    denominator = prob.sum(-1) + targets.sum(-1)
    loss = 1 - (numerator + 1) / (denominator + 1)
    return loss.sum() / num_masks


def pairwise_dice_loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss between every prediction and every target.

    Args:
        inputs: ``[Q, P]`` mask logits (or ``[B, Q, P]``).
        targets: ``[N, P]`` binary targets (or ``[B, N, P]``).

    Returns:
        ``[Q, N]`` (or ``[B, Q, N]``): the dice loss of pair ``(q, n)``.
    """
    prob = inputs.sigmoid()
    numerator = 2 * prob @ targets.mT  # [Q, N]
    denominator = prob.sum(-1).unsqueeze(-1) + targets.sum(-1).unsqueeze(-2)
    return 1 - (numerator + 1) / (denominator + 1)


class MaskLoss(WithoutOptions, ABC):
    """The two forms of one per-pixel mask loss (dice is handled separately).

    Subclasses implement ``loss`` (per-match, scalar normalised by ``num_masks``) and ``pairwise``
    (``[Q, N]`` cost matrix); both take logits and binary targets at the same points.
    """

    @abstractmethod
    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
        """Per-match form: ``[N, P]`` logits and targets -> scalar normalised by ``num_masks``."""

    @abstractmethod
    def pairwise(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Pairwise form: ``[Q, P]`` logits and ``[N, P]`` targets -> ``[Q, N]`` costs."""


@MASK_LOSS_REGISTRY.register(name="sigmoid_ce")
class SigmoidCELoss(MaskLoss):
    """Binary cross-entropy on logits (Mask2Former)."""

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
        return sigmoid_ce_loss(inputs, targets, num_masks)

    def pairwise(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return pairwise_sigmoid_ce_loss(inputs, targets)

    def __repr__(self) -> str:
        return "SigmoidCELoss()"


@MASK_LOSS_REGISTRY.register(name="sigmoid_focal")
class SigmoidFocalLoss(MaskLoss):
    """Sigmoid focal loss (MaskFormer).

    Args:
        alpha: weight of positives (``MODEL.MASK_FORMER.FOCAL_ALPHA``); negative disables it.
        gamma: focusing exponent (``MODEL.MASK_FORMER.FOCAL_GAMMA``).
    """

    @configurable
    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma

    @classmethod
    def from_config(cls, cfg) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        return {"alpha": mf.FOCAL_ALPHA, "gamma": mf.FOCAL_GAMMA}

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
        return sigmoid_focal_loss(inputs, targets, num_masks, self.alpha, self.gamma)

    def pairwise(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return pairwise_sigmoid_focal_loss(inputs, targets, self.alpha, self.gamma)

    def __repr__(self) -> str:
        return f"SigmoidFocalLoss(alpha={self.alpha}, gamma={self.gamma})"


def build_mask_loss(spec: str | MaskLoss, cfg=None) -> MaskLoss:
    """Returns a ``MaskLoss`` from a registered name (or passes an instance through).

    Args:
        spec: a name in ``MASK_LOSS_REGISTRY`` (``"sigmoid_ce"``, ``"sigmoid_focal"``) or a
            ``MaskLoss`` instance.
        cfg: if given, the loss reads its parameters from it (``from_config``); otherwise the
            defaults of its constructor are used.

    Raises:
        KeyError: for an unknown name, listing the registered ones (config key
            ``MODEL.MASK_FORMER.MASK_LOSS``).
    """
    if isinstance(spec, MaskLoss):
        return spec
    try:
        loss_cls = MASK_LOSS_REGISTRY.get(spec)
    except KeyError as err:
        raise KeyError(f"MODEL.MASK_FORMER.MASK_LOSS = {spec!r} is not a known mask loss. {err}") from None
    return loss_cls(cfg) if cfg is not None else loss_cls()
