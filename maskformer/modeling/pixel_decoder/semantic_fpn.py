"""``SemanticFPNPixelDecoder``: Panoptic FPN's semantic branch as a pixel decoder (Mask2Former Table 4e).

Kirillov et al., "Panoptic Feature Pyramid Networks" (CVPR 2019), Sec. 3: every FPN level is
brought to stride 4 by a stack of [3x3 conv + norm + ReLU + 2x bilinear upsampling] stages (one
stage per halving of the stride; the stride-4 level gets one conv and no upsampling), and the
levels are summed. Here the sum replaces the stride-4 FPN output as the input of ``mask_features``;
the transformer decoder still attends to the FPN outputs at strides 32, 16 and 8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.structures import ShapeSpec

from .base import PixelDecoderOutput
from .build import PIXEL_DECODER_REGISTRY
from .fpn import BasePixelDecoder

__all__ = ["SemanticFPNPixelDecoder"]


class _ScaleHead(nn.Sequential):
    """[3x3 conv + norm + ReLU (+ 2x bilinear upsampling)] x n: one FPN level to ``common_stride``."""

    def __init__(self, conv_dim: int, stride: int, common_stride: int, norm: str) -> None:
        stages = max(1, int(math.log2(stride) - math.log2(common_stride)))
        layers: list[nn.Module] = []
        for _ in range(stages):
            layers.append(BasePixelDecoder._output_conv(conv_dim, conv_dim, norm))
            if stride != common_stride:
                layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        super().__init__(*layers)


@PIXEL_DECODER_REGISTRY.register()
class SemanticFPNPixelDecoder(BasePixelDecoder):
    """:class:`BasePixelDecoder` whose per-pixel embeddings come from the Semantic FPN fusion of all
    levels (``scale_heads.{i}``, coarsest first) instead of the stride-4 FPN output alone.

    Args:
        input_shape: backbone features to use (name -> ShapeSpec), e.g. res2..res5.
        conv_dim: FPN and fusion width (``MODEL.SEM_SEG_HEAD.CONVS_DIM``).
        mask_dim: per-pixel embedding width (``MODEL.SEM_SEG_HEAD.MASK_DIM``).
        norm: norm of every conv (``MODEL.SEM_SEG_HEAD.NORM``, "GN" in the paper).
    """

    @configurable
    def __init__(
        self, input_shape: dict[str, ShapeSpec], *, conv_dim: int, mask_dim: int, norm: str = ""
    ) -> None:
        super().__init__(input_shape, conv_dim=conv_dim, mask_dim=mask_dim, norm=norm)
        strides = sorted((spec.stride for spec in input_shape.values()), reverse=True)
        common_stride = strides[-1]
        self.scale_heads = nn.ModuleList(_ScaleHead(conv_dim, s, common_stride, norm) for s in strides)

    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        """Runs the FPN, then sums every level brought to stride 4.

        Args:
            features: backbone maps by name, e.g. ``{"res2": [B, C2, H/4, W/4], ...}``.

        Returns:
            ``mask_features`` ``[B, mask_dim, H/4, W/4]``; None (no transformer encoder); the FPN
            outputs at strides 32, 16, 8 ``[B, conv_dim, ., .]``, lowest resolution first.
        """
        outputs, _ = self.fpn(features)
        size = outputs[-1].shape[-2:]
        fused = None
        for head, y in zip(self.scale_heads, outputs):
            y = head(y)
            if y.shape[-2:] != size:  # odd sizes: 2x upsampling overshoots by a pixel
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            fused = y if fused is None else fused + y
        return PixelDecoderOutput(
            self.mask_features(fused), None, outputs[: self.maskformer_num_feature_levels]
        )
