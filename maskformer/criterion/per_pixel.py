"""``PerPixelCrossEntropy``: the loss of the per-pixel classification baselines (MaskFormer paper
Tables 2 and 4), as Detectron2's semantic segmentation heads compute it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import configurable
from .build import CRITERION_REGISTRY

__all__ = ["PerPixelCrossEntropy", "per_pixel_cross_entropy"]


def per_pixel_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_value: int, common_stride: int = 4
) -> torch.Tensor:
    """Mean cross-entropy over labelled pixels after upsampling the logits to the target size.

    Args:
        logits: ``[B, K, H/s, W/s]`` class logits at stride ``common_stride``.
        targets: int64 ``[B, H, W]`` class ids, ``ignore_value`` where unlabelled.
        ignore_value: label excluded from the loss.
        common_stride: s.

    Returns:
        Scalar loss (computed in fp32).
    """
    logits = F.interpolate(logits.float(), scale_factor=common_stride, mode="bilinear", align_corners=False)
    return F.cross_entropy(logits, targets, reduction="mean", ignore_index=ignore_value)


@CRITERION_REGISTRY.register()
class PerPixelCrossEntropy(nn.Module):
    """Weighted per-pixel cross-entropy of the final and the auxiliary logits.

    Args:
        loss_weight: multiplier of every term (``MODEL.SEM_SEG_HEAD.LOSS_WEIGHT``).
        ignore_value: unlabelled class id (``MODEL.SEM_SEG_HEAD.IGNORE_VALUE``).
        common_stride: stride of the logits (``MODEL.SEM_SEG_HEAD.COMMON_STRIDE``).
    """

    @configurable
    def __init__(self, *, loss_weight: float = 1.0, ignore_value: int = 255, common_stride: int = 4) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.ignore_value = ignore_value
        self.common_stride = common_stride

    @classmethod
    def from_config(cls, cfg) -> dict:
        h = cfg.MODEL.SEM_SEG_HEAD
        return dict(loss_weight=h.LOSS_WEIGHT, ignore_value=h.IGNORE_VALUE, common_stride=h.COMMON_STRIDE)

    def forward(self, outputs: dict, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss_sem_seg`` and ``loss_sem_seg_{i}`` per auxiliary output, each times ``loss_weight``.

        Args:
            outputs: ``{"sem_seg_logits": [B, K, H/s, W/s], "aux_sem_seg_logits": [[B, K, H/s, W/s],
                ...]}``.
            targets: int64 ``[B, H, W]`` labels at s times the logits' size.
        """
        logits = [("", outputs["sem_seg_logits"])]
        logits += [(f"_{i}", aux) for i, aux in enumerate(outputs["aux_sem_seg_logits"])]
        ignore, stride = self.ignore_value, self.common_stride
        return {
            f"loss_sem_seg{suffix}": per_pixel_cross_entropy(x, targets, ignore, stride) * self.loss_weight
            for suffix, x in logits
        }

    def extra_repr(self) -> str:
        return (
            f"loss_weight={self.loss_weight}, ignore_value={self.ignore_value}, "
            f"common_stride={self.common_stride}"
        )
