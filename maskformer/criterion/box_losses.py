"""Box costs and losses of DETR, for MaskFormer Table 5's matching by box: L1 and generalised IoU
on normalised ``(cx, cy, w, h)`` boxes, the targets' boxes being the tight boxes of their masks."""

from __future__ import annotations

import torch
from torchvision.ops import box_convert, generalized_box_iou

from ..structures.masks import masks_to_boxes

__all__ = ["box_losses", "pairwise_box_costs", "target_boxes"]


def target_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of target masks, normalised by the mask size.

    Args:
        masks: ``[N, H, W]`` binary masks (padded like the image; the boxes are relative to it).

    Returns:
        ``[N, 4]`` float ``(cx, cy, w, h)`` in ``[0, 1]``; an empty mask gives an all-zero box.
    """
    height, width = masks.shape[-2:]
    xyxy = masks_to_boxes(masks) / torch.tensor([width, height, width, height], device=masks.device)
    return box_convert(xyxy, "xyxy", "cxcywh")


def pairwise_box_costs(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 distance and GIoU of every prediction / target pair.

    Args:
        pred: ``[Q, 4]`` predicted ``(cx, cy, w, h)``.
        target: ``[N, 4]`` target ``(cx, cy, w, h)``.

    Returns:
        ``[Q, N]`` L1 distances and ``[Q, N]`` generalised IoUs.
    """
    l1 = torch.cdist(pred, target, p=1)
    giou = generalized_box_iou(box_convert(pred, "cxcywh", "xyxy"), box_convert(target, "cxcywh", "xyxy"))
    return l1, giou


def box_losses(pred: torch.Tensor, target: torch.Tensor, num_masks: float) -> dict[str, torch.Tensor]:
    """DETR's ``loss_bbox`` (L1) and ``loss_giou`` (1 - GIoU) of matched pairs, each summed and
    divided by the number of target masks.

    Args:
        pred: ``[M, 4]`` matched predictions.
        target: ``[M, 4]`` their targets.
        num_masks: normaliser (targets in the batch, averaged over processes).
    """
    l1 = (pred - target).abs().sum() / num_masks
    giou = torch.diag(
        generalized_box_iou(box_convert(pred, "cxcywh", "xyxy"), box_convert(target, "cxcywh", "xyxy"))
    )
    return {"loss_bbox": l1, "loss_giou": (1 - giou).sum() / num_masks}
