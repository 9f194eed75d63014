"""Resizing network outputs back to the original image size (Detectron2's semantics)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sem_seg_postprocess"]


def sem_seg_postprocess(
    result: torch.Tensor, img_size: tuple[int, int], output_height: int, output_width: int
) -> torch.Tensor:
    """Crops the padding off a per-pixel output and resizes it to the requested size.

    The network sees the image resized (by the test transform) to ``img_size`` and padded to the
    batch's size divisibility; ``result`` is at that padded resolution. The valid region
    ``[:h, :w]`` is kept and bilinearly resized (``align_corners=False``) to
    ``(output_height, output_width)``, usually the original image size.

    Args:
        result: ``[C, H, W]`` scores or logits (e.g. semantic ``[K, H, W]`` or masks ``[Q, H, W]``),
            at the padded input resolution.
        img_size: ``(h, w)`` of the image inside the padding, ``h <= H``, ``w <= W``.
        output_height: height of the output.
        output_width: width of the output.

    Returns:
        ``[C, output_height, output_width]``, same dtype as ``result``.
    """
    height, width = int(img_size[0]), int(img_size[1])
    if height > result.shape[-2] or width > result.shape[-1]:
        raise ValueError(
            f"img_size {(height, width)} is larger than the prediction {tuple(result.shape[-2:])}: "
            "upsample the predictions to the padded input size before calling sem_seg_postprocess."
        )
    cropped = result[None, :, :height, :width]  # [1, C, h, w]
    return F.interpolate(cropped, size=(output_height, output_width), mode="bilinear", align_corners=False)[0]
