"""``ShapeSpec``: what a stage tells the next about one of its outputs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShapeSpec"]


@dataclass(frozen=True)
class ShapeSpec:
    """Channels and stride of a feature map (any field may be unknown).

    Attributes:
        channels: number of channels C of a ``[B, C, H, W]`` map.
        height: spatial height, when fixed.
        width: spatial width, when fixed.
        stride: down-sampling factor relative to the input image.
    """

    channels: int | None = None
    height: int | None = None
    width: int | None = None
    stride: int | None = None
