"""``FaPNPixelDecoder``: the feature-aligned pyramid network as a pixel decoder (Mask2Former Table 4e).

Huang et al., "FaPN: Feature-aligned Pyramid Network for Dense Image Prediction" (ICCV 2021): the
FPN's plain "lateral 1x1 conv + upsampled coarser map" step becomes
- a feature selection module on the lateral path (channel attention from the global average,
  ``x + x * sigmoid(conv(avgpool(x)))``, then a 1x1 projection), and
- a feature alignment module: the bilinearly upsampled coarser map is resampled by a modulated
  deformable 3x3 convolution (8 offset groups) whose offsets are predicted from the lateral map
  and the upsampled map (``concat(lateral, 2 * up)``), before the two are added.
The deformable convolution is torchvision's ``deform_conv2d`` (CPU and GPU). The offset / mask
predictor starts at zero, so at initialisation the alignment is a plain 3x3 convolution.
Everything else (top-level 3x3 conv, output convs, ``mask_features``) is the MaskFormer FPN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from maskformer.layers import Conv2d, c2_msra_fill, c2_xavier_fill, get_norm

from .build import PIXEL_DECODER_REGISTRY
from .fpn import BasePixelDecoder

__all__ = ["FaPNPixelDecoder", "FeatureAlignment", "FeatureSelection"]

# FaPN's deformable alignment: 3x3 kernel, 8 groups of offsets.
ALIGN_KERNEL = 3
ALIGN_OFFSET_GROUPS = 8


class FeatureSelection(nn.Module):
    """FaPN's feature selection module: channel re-weighting, then the lateral 1x1 projection + norm.

    Args:
        in_channels: channels of the backbone map.
        out_channels: FPN width.
        norm: norm name after the projection.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.conv_atten = Conv2d(in_channels, in_channels, 1, bias=False)
        self.conv = Conv2d(in_channels, out_channels, 1, bias=norm == "", norm=get_norm(norm, out_channels))
        c2_xavier_fill(self.conv_atten)
        c2_xavier_fill(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` -> ``[B, C_out, H, W]``."""
        attention = torch.sigmoid(self.conv_atten(x.mean(dim=(2, 3), keepdim=True)))
        return self.conv(x + x * attention)


class FeatureAlignment(nn.Module):
    """FaPN's feature alignment module: deformably resample the upsampled coarse map, add the lateral.

    Args:
        channels: FPN width C.
        norm: norm name after the offset-feature 1x1 conv.
        offset_groups: groups of sampling offsets of the deformable conv.
    """

    def __init__(self, channels: int, norm: str, offset_groups: int = ALIGN_OFFSET_GROUPS) -> None:
        super().__init__()
        k = ALIGN_KERNEL
        self.offset_groups = offset_groups
        self.offset = Conv2d(2 * channels, channels, 1, bias=False, norm=get_norm(norm, channels))
        c2_xavier_fill(self.offset)
        # Per group and kernel point: (dy, dx) offsets, then one modulation logit.
        self.conv_offset_mask = nn.Conv2d(channels, 3 * offset_groups * k * k, k, padding=k // 2)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)
        self.align = nn.Conv2d(channels, channels, k, padding=k // 2)
        c2_msra_fill(self.align)

    def forward(self, lateral: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """Aligns ``coarse`` to ``lateral`` and adds them.

        Args:
            lateral: lateral map ``[B, C, H, W]``.
            coarse: coarser FPN output ``[B, C, H', W']`` (usually ``H' = H / 2``).

        Returns:
            ``[B, C, H, W]``: ``relu(deform_conv(up(coarse))) + lateral``.
        """
        up = coarse
        if coarse.shape[-2:] != lateral.shape[-2:]:
            up = F.interpolate(coarse, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
        offset_mask = self.conv_offset_mask(self.offset(torch.cat([lateral, 2 * up], dim=1)))
        n = self.offset_groups * ALIGN_KERNEL * ALIGN_KERNEL
        offset, modulation = offset_mask.split([2 * n, n], dim=1)
        aligned = deform_conv2d(
            up,
            offset.to(up.dtype),
            self.align.weight,
            self.align.bias,
            padding=self.align.padding,
            mask=torch.sigmoid(modulation).to(up.dtype),
        )
        return F.relu(aligned) + lateral


class _AlignedLateral(nn.Module):
    """One FaPN level: feature selection on the backbone map, alignment of the coarser output."""

    def __init__(self, in_channels: int, conv_dim: int, norm: str) -> None:
        super().__init__()
        self.select = FeatureSelection(in_channels, conv_dim, norm)
        self.align = FeatureAlignment(conv_dim, norm)

    def forward(self, x: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """Backbone map ``[B, C_in, H, W]`` + coarser output ``[B, C, H', W']`` -> ``[B, C, H, W]``."""
        return self.align(self.select(x), coarse)


@PIXEL_DECODER_REGISTRY.register()
class FaPNPixelDecoder(BasePixelDecoder):
    """:class:`BasePixelDecoder` with FaPN's selection + alignment in place of each lateral step
    (``adapter_{i}.select``, ``adapter_{i}.align``). Same arguments and outputs."""

    @staticmethod
    def _build_lateral(in_channels: int, conv_dim: int, norm: str) -> nn.Module:
        return _AlignedLateral(in_channels, conv_dim, norm)

    @staticmethod
    def _fuse(lateral: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return lateral(x, y)
