"""``BiFPNPixelDecoder``: EfficientDet's bidirectional FPN as a pixel decoder (Mask2Former Table 4e).

Tan et al., "EfficientDet: Scalable and Efficient Object Detection" (CVPR 2020), Sec. 3: the
backbone maps are projected to one width (1x1 conv + norm), then ``num_layers`` BiFPN layers each
run a top-down pass and a bottom-up pass. Every node fuses its inputs with "fast normalised
fusion" (``sum_i w_i x_i / (eps + sum_j w_j)`` with ``w = relu(learned weights)``), applies swish,
then a depthwise-separable 3x3 conv + norm. A bottom-up node of an intermediate level also takes
the level's input (the extra edge of the paper). Coarser maps are brought up by nearest
upsampling, finer maps down by 3x3 max pooling with stride 2. The finest output goes through the
MaskFormer ``mask_features`` 3x3 conv; the outputs at strides 32, 16, 8 feed the decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill, get_norm
from maskformer.structures import ShapeSpec

from .base import PixelDecoderOutput
from .build import PIXEL_DECODER_REGISTRY
from .fpn import BasePixelDecoder, PyramidDecoderBase

__all__ = ["BiFPNLayer", "BiFPNPixelDecoder", "FastNormalizedFusion"]

# EfficientDet's epsilon of the fast normalised fusion.
FUSION_EPS = 1e-4


class FastNormalizedFusion(nn.Module):
    """``sum_i w_i x_i / (eps + sum_j w_j)`` with ``w = relu(weight)`` (weights start at 1).

    Args:
        num_inputs: number of maps fused.
    """

    def __init__(self, num_inputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_inputs))

    def normalized_weights(self) -> torch.Tensor:
        """The non-negative fusion weights ``[num_inputs]``, summing to just under 1."""
        w = F.relu(self.weight)
        return w / (w.sum() + FUSION_EPS)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Maps of one shape ``[B, C, H, W]`` each -> their weighted sum ``[B, C, H, W]``."""
        w = self.normalized_weights()
        return sum(wi * x for wi, x in zip(w, inputs))


class _FusionNode(nn.Module):
    """fusion -> swish -> depthwise 3x3 conv -> pointwise 1x1 conv + norm."""

    def __init__(self, num_inputs: int, channels: int, norm: str) -> None:
        super().__init__()
        self.fusion = FastNormalizedFusion(num_inputs)
        self.depthwise = Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = Conv2d(channels, channels, 1, bias=norm == "", norm=get_norm(norm, channels))
        c2_xavier_fill(self.depthwise)
        c2_xavier_fill(self.pointwise)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Maps of one shape ``[B, C, H, W]`` -> ``[B, C, H, W]``."""
        return self.pointwise(self.depthwise(F.silu(self.fusion(inputs))))


def _resize_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Brings ``x`` to ``ref``'s size: nearest upsampling, or 3x3 / 2 max pooling downwards."""
    if x.shape[-1] > ref.shape[-1]:
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    if x.shape[-2:] != ref.shape[-2:]:
        x = F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return x


class BiFPNLayer(nn.Module):
    """One BiFPN layer over ``num_levels`` maps of one width, finest first.

    Args:
        num_levels: number of pyramid levels (>= 2).
        channels: their width.
        norm: norm name of the node convs.
    """

    def __init__(self, num_levels: int, channels: int, norm: str) -> None:
        super().__init__()
        # top_down[i] makes the intermediate map of level i (levels 0 .. n-2; level n-1 is its input).
        self.top_down = nn.ModuleList(_FusionNode(2, channels, norm) for _ in range(num_levels - 1))
        # bottom_up[i - 1] makes the output of level i (level 0's output is its intermediate map).
        self.bottom_up = nn.ModuleList(
            _FusionNode(2 if i == num_levels - 1 else 3, channels, norm) for i in range(1, num_levels)
        )

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Maps ``[B, C, H_i, W_i]``, finest first -> refined maps of the same shapes, finest first."""
        n = len(inputs)
        intermediate = [None] * (n - 1) + [inputs[-1]]
        for i in range(n - 2, -1, -1):
            intermediate[i] = self.top_down[i]([inputs[i], _resize_to(intermediate[i + 1], inputs[i])])
        outputs = [intermediate[0]]
        for i in range(1, n):
            same_level = [inputs[i]] if i == n - 1 else [inputs[i], intermediate[i]]
            outputs.append(self.bottom_up[i - 1]([*same_level, _resize_to(outputs[-1], inputs[i])]))
        return outputs


@PIXEL_DECODER_REGISTRY.register()
class BiFPNPixelDecoder(PyramidDecoderBase):
    """Input projections (``input_proj.{i}``, finest first) -> ``layers`` -> ``mask_features``.

    Args:
        input_shape: backbone features to use (name -> ShapeSpec), e.g. res2..res5.
        conv_dim: BiFPN width (``MODEL.SEM_SEG_HEAD.CONVS_DIM``).
        mask_dim: per-pixel embedding width (``MODEL.SEM_SEG_HEAD.MASK_DIM``).
        norm: norm name (``MODEL.SEM_SEG_HEAD.NORM``).
        num_layers: stacked BiFPN layers (``MODEL.SEM_SEG_HEAD.BIFPN_NUM_LAYERS``).
    """

    @configurable
    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        conv_dim: int,
        mask_dim: int,
        norm: str = "",
        num_layers: int,
    ) -> None:
        super().__init__(input_shape, conv_dim, mask_dim)
        channels = self.in_channels
        self.input_proj = nn.ModuleList(BasePixelDecoder._build_lateral(c, conv_dim, norm) for c in channels)
        self.layers = nn.ModuleList(BiFPNLayer(len(channels), conv_dim, norm) for _ in range(num_layers))
        self.mask_features = Conv2d(conv_dim, mask_dim, 3, padding=1)
        c2_xavier_fill(self.mask_features)

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        args = BasePixelDecoder.from_config(cfg, input_shape)
        args["num_layers"] = cfg.MODEL.SEM_SEG_HEAD.BIFPN_NUM_LAYERS
        return args

    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        """Runs the BiFPN: stride-4 ``mask_features``, no encoder output, the stride 32, 16, 8 maps
        (``conv_dim`` wide), as :meth:`output_shape` declares."""
        maps = [proj(features[name]) for name, proj in zip(self.in_features, self.input_proj)]
        for layer in self.layers:
            maps = layer(maps)
        return PixelDecoderOutput(
            self.mask_features(maps[0]), None, maps[::-1][: self.maskformer_num_feature_levels]
        )
