"""``ImageList``: images of different sizes padded into one batch tensor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["ImageList"]


class ImageList:
    """A padded batch plus the size of every image before padding.

    Attributes:
        tensor: ``[B, C, H, W]`` padded batch.
        image_sizes: ``(h, w)`` of each image inside the padded batch.
    """

    def __init__(self, tensor: torch.Tensor, image_sizes: list[tuple[int, int]]) -> None:
        self.tensor = tensor
        self.image_sizes = image_sizes

    def __len__(self) -> int:
        return len(self.image_sizes)

    def __getitem__(self, idx: int) -> torch.Tensor:
        """The ``idx``-th image without its padding, ``[C, h, w]``."""
        h, w = self.image_sizes[idx]
        return self.tensor[idx, ..., :h, :w]

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def to(self, *args, **kwargs) -> ImageList:
        return ImageList(self.tensor.to(*args, **kwargs), self.image_sizes)

    @staticmethod
    def from_tensors(
        tensors: Sequence[torch.Tensor], size_divisibility: int = 0, pad_value: float = 0.0
    ) -> ImageList:
        """Pads ``[..., h_i, w_i]`` tensors to a common size divisible by ``size_divisibility``.

        Args:
            tensors: per-image tensors with identical leading dims.
            size_divisibility: pad H and W up to a multiple of this (0 or 1: no rounding).
            pad_value: value written into the padding.

        Returns:
            ImageList with ``tensor`` of shape ``[B, ..., H, W]``.
        """
        if len(tensors) == 0:
            raise ValueError("ImageList.from_tensors needs at least one tensor.")
        sizes = [(int(t.shape[-2]), int(t.shape[-1])) for t in tensors]
        max_h = max(h for h, _ in sizes)
        max_w = max(w for _, w in sizes)
        if size_divisibility > 1:
            max_h = (max_h + size_divisibility - 1) // size_divisibility * size_divisibility
            max_w = (max_w + size_divisibility - 1) // size_divisibility * size_divisibility
        batch = torch.stack(
            [F.pad(t, (0, max_w - t.shape[-1], 0, max_h - t.shape[-2]), value=pad_value) for t in tensors]
        )
        return ImageList(batch.contiguous(), sizes)
