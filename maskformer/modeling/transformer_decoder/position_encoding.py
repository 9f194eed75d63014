"""Sine positional encoding of a 2-D feature map (DETR, "End-to-End Object Detection with Transformers")."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Fixed sine/cosine encoding of the (y, x) position of every pixel.

    The first ``num_pos_feats`` output channels encode y, the last ``num_pos_feats`` encode x;
    within each half, even channels are sines and odd channels cosines of
    ``pos / temperature ** (2 * (i // 2) / num_pos_feats)``. Positions count valid (non-padding)
    pixels from 1, so padding does not shift the encoding of the image content.

    Args:
        num_pos_feats: channels per axis; the output has ``2 * num_pos_feats`` channels.
        temperature: base of the geometric progression of wavelengths.
        normalize: rescale positions to ``(0, scale]`` by the number of valid pixels per row/column.
        scale: the range of normalised positions; only meaningful with ``normalize`` (default 2*pi).
    """

    def __init__(
        self,
        num_pos_feats: int = 64,
        temperature: float = 10000,
        normalize: bool = False,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSine: `scale` is only used with normalize=True; pass both.")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encodes the positions of ``x``.

        Args:
            x: ``[B, C, H, W]`` features (only shape and device are used).
            mask: optional bool ``[B, H, W]``, True = padding.

        Returns:
            ``[B, 2 * num_pos_feats, H, W]`` float32 encoding (cast to ``x.dtype``).
        """
        if mask is None:
            mask = torch.zeros((x.shape[0], x.shape[2], x.shape[3]), device=x.device, dtype=torch.bool)
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)  # [B, H, W], 1-based row index
        x_embed = not_mask.cumsum(2, dtype=torch.float32)  # [B, H, W], 1-based column index
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale

        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)
        pos_x = self._interleave(x_embed[:, :, :, None] / dim_t)  # [B, H, W, F]
        pos_y = self._interleave(y_embed[:, :, :, None] / dim_t)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)  # [B, 2F, H, W]
        return pos.to(x.dtype)

    @staticmethod
    def _interleave(angles: torch.Tensor) -> torch.Tensor:
        """``[..., F]`` angles -> ``[..., F]`` with sin of even and cos of odd channels interleaved."""
        return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)

    def extra_repr(self) -> str:
        return (
            f"num_pos_feats={self.num_pos_feats}, temperature={self.temperature}, "
            f"normalize={self.normalize}, scale={self.scale}"
        )
