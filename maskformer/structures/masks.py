"""Mask conversions: binary masks to boxes (polygon / RLE conversions live here too)."""

from __future__ import annotations

import torch

__all__ = ["masks_to_boxes"]


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight XYXY boxes around binary masks.

    The box covers whole pixels: a mask with a single pixel at ``(y, x)`` gets
    ``[x, y, x + 1, y + 1]``, as in Detectron2's ``BitMasks.get_bounding_boxes``. Empty masks get
    an all-zero box.

    Args:
        masks: ``[N, H, W]`` bool or {0, 1} tensor.

    Returns:
        ``[N, 4]`` float32 boxes ``(x0, y0, x1, y1)`` in absolute pixels.
    """
    boxes = torch.zeros(masks.shape[0], 4, dtype=torch.float32, device=masks.device)
    if masks.numel() == 0:
        return boxes
    masks = masks.bool()
    any_x = masks.any(dim=1)  # [N, W]
    any_y = masks.any(dim=2)  # [N, H]
    nonempty = any_x.any(dim=1)
    xs = torch.arange(masks.shape[2], device=masks.device)
    ys = torch.arange(masks.shape[1], device=masks.device)
    big = masks.shape[1] + masks.shape[2]
    x0 = torch.where(any_x, xs, big).min(dim=1).values
    x1 = torch.where(any_x, xs, -1).max(dim=1).values + 1
    y0 = torch.where(any_y, ys, big).min(dim=1).values
    y1 = torch.where(any_y, ys, -1).max(dim=1).values + 1
    stacked = torch.stack([x0, y0, x1, y1], dim=1).float()
    boxes[nonempty] = stacked[nonempty]
    return boxes
