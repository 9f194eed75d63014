"""Backbone feature maps for the pixel-decoder tests: ``res2`` to ``res5`` (strides 4 to 32)."""

import torch

from maskformer.structures import ShapeSpec

SHAPES = {
    "res2": ShapeSpec(channels=8, stride=4),
    "res3": ShapeSpec(channels=12, stride=8),
    "res4": ShapeSpec(channels=16, stride=16),
    "res5": ShapeSpec(channels=20, stride=32),
}


def backbone_features(
    shapes: dict[str, ShapeSpec] = SHAPES, b: int = 2, h: int = 64, w: int = 96, seed: int | None = None
) -> dict[str, torch.Tensor]:
    """Random features of a ``b x 3 x h x w`` batch: ``{name: (b, channels, h / stride, w / stride)}``.

    Args:
        shapes: the levels, in the order they are drawn.
        b, h, w: the batch size and the image size.
        seed: draws from a generator of this seed; ``None`` draws from torch's global generator.
    """
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    return {
        name: torch.randn(b, spec.channels, h // spec.stride, w // spec.stride, generator=gen)
        for name, spec in shapes.items()
    }
