"""``BasePixelDecoder``: the FPN pixel decoder of MaskFormer (paper Sec. 3.3, Fig. 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill, get_norm
from maskformer.structures import ShapeSpec

from .base import PixelDecoder, PixelDecoderOutput, PixelDecoderShape, finest_first
from .build import PIXEL_DECODER_REGISTRY

__all__ = ["BasePixelDecoder", "PyramidDecoderBase"]

# The transformer decoders attend to at most this many pixel-decoder outputs.
NUM_FEATURE_LEVELS = 3


class PyramidDecoderBase(PixelDecoder):
    """What the pyramid decoders (the FPN, its Table 4e variants and BiFPN) share: their inputs
    ordered finest first, their widths, and their output shape (no encoder; ``mask_features`` from
    the finest level; the 3 coarsest ``conv_dim``-wide levels as the multi-scale maps).

    Args:
        input_shape: backbone features to use (name -> ShapeSpec).
        conv_dim: width of the pyramid levels.
        mask_dim: width of ``mask_features``.
    """

    def __init__(self, input_shape: dict[str, ShapeSpec], conv_dim: int, mask_dim: int) -> None:
        super().__init__()
        self.in_features, self.in_strides, self.in_channels = finest_first(input_shape)
        self.conv_dim = conv_dim
        self.mask_dim = mask_dim
        self.maskformer_num_feature_levels = NUM_FEATURE_LEVELS

    def output_shape(self) -> PixelDecoderShape:
        return PixelDecoderShape(
            mask_features=ShapeSpec(channels=self.mask_dim, stride=self.in_strides[0]),
            encoder_features=None,
            multi_scale_features=tuple(
                ShapeSpec(channels=self.conv_dim, stride=s)
                for s in self.in_strides[::-1][: self.maskformer_num_feature_levels]
            ),
        )


@PIXEL_DECODER_REGISTRY.register()
class BasePixelDecoder(PyramidDecoderBase):
    """A top-down FPN from the lowest-resolution input to stride 4, then a mask-feature conv.

    The coarsest input goes through ``layer_{n}`` (3x3 conv + norm + ReLU); every finer input
    ``i`` through ``adapter_{i}`` (1x1 lateral conv + norm), is summed with the nearest-upsampled
    coarser output, then goes through ``layer_{i}``. ``mask_features`` (3x3 conv) projects the
    stride-4 output to ``mask_dim`` (the per-pixel embeddings of the paper).

    Args:
        input_shape: backbone features to use (name -> ShapeSpec), e.g. res2..res5.
        conv_dim: FPN width (``MODEL.SEM_SEG_HEAD.CONVS_DIM``).
        mask_dim: per-pixel embedding width (``MODEL.SEM_SEG_HEAD.MASK_DIM``).
        norm: norm name of the FPN convs (``MODEL.SEM_SEG_HEAD.NORM``, "GN" officially).
    """

    @configurable
    def __init__(
        self, input_shape: dict[str, ShapeSpec], *, conv_dim: int, mask_dim: int, norm: str = ""
    ) -> None:
        super().__init__(input_shape, conv_dim, mask_dim)
        channels = self.in_channels
        lateral_convs: list[nn.Module | None] = []
        output_convs: list[nn.Module] = []
        for idx, in_channels in enumerate(channels[:-1]):
            lateral = self._build_lateral(in_channels, conv_dim, norm)
            output = self._output_conv(conv_dim, conv_dim, norm)
            self.add_module(f"adapter_{idx + 1}", lateral)
            self.add_module(f"layer_{idx + 1}", output)
            lateral_convs.append(lateral)
            output_convs.append(output)
        top = self._build_top(channels[-1], conv_dim, norm)
        self.add_module(f"layer_{len(channels)}", top)
        lateral_convs.append(None)
        output_convs.append(top)
        # Coarsest first, the order of the top-down pass.
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]
        self.mask_features = self._build_mask_features(conv_dim, mask_dim)

    @staticmethod
    def _build_lateral(in_channels: int, conv_dim: int, norm: str) -> nn.Module:
        """The module that brings a finer backbone map into the FPN (a 1x1 conv + norm)."""
        use_bias = norm == ""  # a norm right after the conv makes its bias redundant
        lateral = Conv2d(in_channels, conv_dim, 1, bias=use_bias, norm=get_norm(norm, conv_dim))
        c2_xavier_fill(lateral)
        return lateral

    def _build_mask_features(self, conv_dim: int, mask_dim: int) -> nn.Module:
        """The projection of the stride-4 FPN output to the per-pixel embeddings (3x3 conv)."""
        conv = Conv2d(conv_dim, mask_dim, 3, padding=1)
        c2_xavier_fill(conv)
        return conv

    @staticmethod
    def _output_conv(in_channels: int, conv_dim: int, norm: str) -> Conv2d:
        conv = Conv2d(
            in_channels,
            conv_dim,
            3,
            padding=1,
            bias=norm == "",
            norm=get_norm(norm, conv_dim),
            activation=F.relu_,  # in place: neither the conv nor its norm keeps its output for backward
        )
        c2_xavier_fill(conv)
        return conv

    def _build_top(self, in_channels: int, conv_dim: int, norm: str) -> nn.Module:
        """The conv applied to the coarsest feature (subclasses insert an encoder before it)."""
        return self._output_conv(in_channels, conv_dim, norm)

    def _forward_top(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Coarsest feature -> (FPN output, transformer encoder features or None)."""
        return self.output_convs[0](x), None

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        head = cfg.MODEL.SEM_SEG_HEAD
        missing = [f for f in head.IN_FEATURES if f not in input_shape]
        if missing:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.IN_FEATURES has {missing}, which the backbone does not output "
                f"(it outputs {sorted(input_shape)}); fix IN_FEATURES or the backbone's OUT_FEATURES."
            )
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "conv_dim": head.CONVS_DIM,
            "mask_dim": head.MASK_DIM,
            "norm": head.NORM,
        }

    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        """Runs the top-down pass.

        Args:
            features: backbone maps by name, e.g. ``{"res2": [B, C2, H/4, W/4], ...}``.

        Returns:
            ``mask_features`` ``[B, mask_dim, H/4, W/4]``; the transformer encoder output
            ``[B, conv_dim, H/32, W/32]`` or None; the first 3 FPN outputs ``[B, conv_dim, ., .]``,
            lowest resolution first.
        """
        outputs, encoder_features = self.fpn(features)
        multi_scale = outputs[: self.maskformer_num_feature_levels]
        return PixelDecoderOutput(self.mask_features(outputs[-1]), encoder_features, multi_scale)

    def fpn(self, features: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The top-down pass: every level's output ``[B, conv_dim, ., .]``, coarsest first.

        Args:
            features: backbone maps by name.

        Returns:
            The FPN outputs, coarsest first (the last one at stride 4), and the transformer
            encoder output or None.
        """
        outputs: list[torch.Tensor] = []
        encoder_features = None
        y = None
        for name, lateral, output in zip(self.in_features[::-1], self.lateral_convs, self.output_convs):
            x = features[name]
            if lateral is None:
                y, encoder_features = self._forward_top(x)
            else:
                y = output(self._fuse(lateral, x, y))
            outputs.append(y)
        return outputs, encoder_features

    @staticmethod
    def _fuse(lateral: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Finer backbone map ``x`` + coarser FPN output ``y`` -> what the output conv refines.

        Args:
            lateral: the level's lateral module (``adapter_{i}``).
            x: backbone map ``[B, C_i, H_i, W_i]``.
            y: FPN output of the next coarser level ``[B, conv_dim, H_i / 2, W_i / 2]``.

        Returns:
            ``[B, conv_dim, H_i, W_i]``: the lateral projection plus the nearest-upsampled ``y``.
        """
        cur = lateral(x)
        return cur + F.interpolate(y, size=cur.shape[-2:], mode="nearest")
