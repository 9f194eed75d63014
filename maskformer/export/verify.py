"""Exported networks against the eager one: largest absolute difference per output."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from .network import OUTPUT_NAMES, SegmentationNetwork

__all__ = ["output_differences"]


def output_differences(
    network: SegmentationNetwork,
    exported: Mapping[str, Callable[[Tensor], tuple[Tensor, Tensor]]],
    images: Tensor,
) -> dict[str, dict[str, float]]:
    """Runs the eager network and every exported one on ``images``; returns max |Δ| per output.

    Args:
        network: the eager network (eval mode).
        exported: name -> exported network (same call signature).
        images: ``[B, 3, H, W]`` normalised input.

    Returns:
        ``{name: {"pred_logits": max_abs_diff, "pred_masks": max_abs_diff}}``.
    """
    with torch.no_grad():
        expected = network.eval()(images)
        return {
            name: {
                output: float((got.to(want.device) - want).abs().max())
                for output, got, want in zip(OUTPUT_NAMES, run(images), expected)
            }
            for name, run in exported.items()
        }
