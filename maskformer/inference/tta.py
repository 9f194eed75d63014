"""Semantic test-time augmentation: multi-scale + horizontal flip, scores averaged at full size.

For each input image, the model runs on copies resized so that the shortest edge equals each of
``TEST.AUG.MIN_SIZES`` (longest edge capped at ``TEST.AUG.MAX_SIZE``, as Detectron2's
``ResizeShortestEdge``), each also flipped horizontally when ``TEST.AUG.FLIP``. The model returns
per-class scores at the input's original ``(height, width)``; flipped results are flipped back and
all results are averaged, as in the official Mask2Former ``SemanticSegmentorWithTTA``. Results are
reported with a ``_TTA`` suffix by the trainer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..config import configurable

__all__ = ["SemanticSegmentorWithTTA", "resize_image", "shortest_edge_size"]


def shortest_edge_size(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """Output ``(height, width)`` of a resize of the shortest edge to ``short``, longest <= ``max_size``.

    Args:
        height: input height.
        width: input width.
        short: target length of the shortest edge.
        max_size: cap on the longest edge (after which the shortest edge may be below ``short``).
    """
    scale = short / min(height, width)
    new_h, new_w = (float(short), scale * width) if height < width else (scale * height, float(short))
    if max(new_h, new_w) > max_size:
        cap = max_size / max(new_h, new_w)
        new_h, new_w = new_h * cap, new_w * cap
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a ``[C, H, W]`` image to ``size = (h, w)``; no-op at the same size.

    uint8 images with 1 or 3 channels go through PIL's bilinear filter, like the data pipeline's
    ``ResizeTransform`` (Detectron2's choice); other images through ``torch`` bilinear interpolation.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if image.dtype == torch.uint8 and image.shape[0] in (1, 3):
        array = image.permute(1, 2, 0).cpu().numpy()
        pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        resized = np.asarray(pil.resize((size[1], size[0]), Image.Resampling.BILINEAR))
        resized = resized[:, :, None] if resized.ndim == 2 else resized
        return torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(image.device)
    resized = nn.functional.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)
    return resized[0].to(image.dtype)


class SemanticSegmentorWithTTA(nn.Module):
    """Wraps a semantic model (``[{"sem_seg": [K, H, W]}]`` outputs) with test-time augmentation.

    Args:
        model: the model in eval mode; returns ``sem_seg`` at each input's ``height``/``width``.
        min_sizes: shortest-edge lengths, one model run each (``TEST.AUG.MIN_SIZES``).
        max_size: longest-edge cap (``TEST.AUG.MAX_SIZE``).
        flip: also run each size flipped horizontally (``TEST.AUG.FLIP``).
        batch_size: augmented copies per model call.
    """

    @configurable
    def __init__(
        self,
        model: nn.Module,
        *,
        min_sizes: Sequence[int],
        max_size: int,
        flip: bool = True,
        batch_size: int = 1,
    ) -> None:
        super().__init__()
        if not min_sizes:
            raise ValueError("TEST.AUG.MIN_SIZES is empty; give at least one shortest-edge size.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        # A DistributedDataParallel wrapper adds nothing at inference and hides the model.
        self.model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        self.min_sizes = [int(s) for s in min_sizes]
        self.max_size = int(max_size)
        self.flip = bool(flip)
        self.batch_size = int(batch_size)

    @classmethod
    def from_config(cls, cfg: Any, model: nn.Module) -> dict[str, Any]:
        return {
            "model": model,
            "min_sizes": list(cfg.TEST.AUG.MIN_SIZES),
            "max_size": cfg.TEST.AUG.MAX_SIZE,
            "flip": cfg.TEST.AUG.FLIP,
        }

    def _augmented_inputs(self, inp: dict[str, Any]) -> tuple[list[dict[str, Any]], list[bool]]:
        """Copies of ``inp`` at every size (and flipped), with the flag telling which are flipped."""
        image = inp["image"]
        height, width = image.shape[-2:]
        inputs, flipped = [], []
        for short in self.min_sizes:
            resized = resize_image(image, shortest_edge_size(height, width, short, self.max_size))
            for flip in (False, True) if self.flip else (False,):
                aug = copy.copy(inp)
                aug["image"] = resized.flip(dims=[-1]) if flip else resized
                # The model resizes its scores to the original size given here.
                aug.setdefault("height", height)
                aug.setdefault("width", width)
                inputs.append(aug)
                flipped.append(flip)
        return inputs, flipped

    def _inference_one_image(self, inp: dict[str, Any]) -> dict[str, torch.Tensor]:
        inputs, flipped = self._augmented_inputs(inp)
        total = None
        for start in range(0, len(inputs), self.batch_size):
            outputs = self.model(inputs[start : start + self.batch_size])
            for out, flip in zip(outputs, flipped[start : start + self.batch_size]):
                scores = out["sem_seg"].flip(dims=[-1]) if flip else out["sem_seg"]
                total = scores.clone() if total is None else total + scores
        return {"sem_seg": total / len(inputs)}

    @torch.no_grad()
    def forward(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, torch.Tensor]]:
        """Returns ``[{"sem_seg": [K, height, width]}]``: scores averaged over the augmentations."""
        return [self._inference_one_image(inp) for inp in batched_inputs]
