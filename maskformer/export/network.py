"""The exportable part of a MaskFormer / Mask2Former: normalised, padded images -> raw predictions.

Pre-processing (normalise, pad) and post-processing (semantic / panoptic / instance inference at
the original size) stay in Python around it; :class:`ExportedMaskFormer` puts them back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["OUTPUT_NAMES", "SegmentationNetwork", "dynamic_image_shape", "example_images"]

OUTPUT_NAMES = ("pred_logits", "pred_masks")


class SegmentationNetwork(nn.Module):
    """Backbone + segmentation head of a ``MaskFormer`` model, returning plain tensors.

    Args:
        model: a ``MaskFormer`` (MaskFormer or Mask2Former heads); its modules are shared, not copied.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for name in ("backbone", "sem_seg_head", "size_divisibility"):
            if not hasattr(model, name):
                raise TypeError(
                    f"{type(model).__name__} has no '{name}': only mask-classification models "
                    "(MODEL.META_ARCHITECTURE 'MaskFormer') can be exported."
                )
        self.backbone = model.backbone
        self.sem_seg_head = model.sem_seg_head
        self.size_divisibility = int(model.size_divisibility)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Runs the network.

        Args:
            images: ``[B, 3, H, W]`` normalised, padded images (H, W multiples of the size divisibility).

        Returns:
            ``pred_logits`` ``[B, Q, K+1]`` and ``pred_masks`` ``[B, Q, H/4, W/4]`` (last decoder layer).
        """
        outputs = self.sem_seg_head(self.backbone(images))
        return outputs["pred_logits"], outputs["pred_masks"]


def dynamic_image_shape(size_divisibility: int, max_size: int = 4096) -> dict[int, object]:
    """``torch.export`` dynamic shape of the image input: any batch size, H and W any multiple of
    the size divisibility.

    Args:
        size_divisibility: the model's padding multiple (0 or 1: any size from 2 pixels).
        max_size: largest height / width the program accepts.

    Returns:
        ``{0: batch_dim, 2: height_dim, 3: width_dim}`` for ``dynamic_shapes``.
    """
    step = max(int(size_divisibility), 1)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height_steps", min=2, max=max_size // step)
    width = torch.export.Dim("width_steps", min=2, max=max_size // step)
    if step == 1:
        return {0: batch, 2: height, 3: width}
    return {0: batch, 2: step * height, 3: step * width}


def example_images(network: SegmentationNetwork, height: int, width: int, batch: int = 2) -> Tensor:
    """A random normalised image batch ``[batch, 3, height, width]`` valid for ``network``.

    Tracing needs a batch of 2 or more: a traced size of 1 would be fixed in the program.

    Raises:
        ValueError: when the size is not a multiple of the network's size divisibility.
    """
    step = max(network.size_divisibility, 1)
    if height % step or width % step or min(height, width) < 2 * step:
        raise ValueError(
            f"Export size {height}x{width} must be multiples of the size divisibility {step} "
            f"(at least {2 * step}); e.g. --height {max(2, -(-height // step)) * step} "
            f"--width {max(2, -(-width // step)) * step}."
        )
    gen = torch.Generator().manual_seed(0)
    device = next(network.parameters()).device
    return torch.randn(batch, 3, height, width, generator=gen).to(device)
