"""``TransformerEncoderPixelDecoder``: the FPN with a DETR transformer encoder on the coarsest map."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill
from maskformer.structures import ShapeSpec

from ..transformer_decoder.detr_transformer import TransformerEncoder
from ..transformer_decoder.layers import xavier_init_matrices
from ..transformer_decoder.position_encoding import PositionEmbeddingSine
from .base import PixelDecoderShape
from .build import PIXEL_DECODER_REGISTRY
from .encoder_spec import EncoderSpec
from .fpn import BasePixelDecoder

__all__ = ["TransformerEncoderPixelDecoder"]


@PIXEL_DECODER_REGISTRY.register()
class TransformerEncoderPixelDecoder(BasePixelDecoder):
    """:class:`BasePixelDecoder` whose coarsest level is ``input_proj`` (1x1) -> transformer
    encoder (``transformer.encoder``) -> ``layer_{n}`` (3x3 conv); the encoder output is also
    returned, for decoders that attend to it (``TRANSFORMER_IN_FEATURE: transformer_encoder``).

    Args:
        input_shape: backbone features to use.
        encoder: the encoder's sizes (FFN width ``MODEL.MASK_FORMER.DIM_FEEDFORWARD``).
        transformer_pre_norm: pre-norm encoder (``MODEL.MASK_FORMER.PRE_NORM``).
        conv_dim: FPN width.
        mask_dim: per-pixel embedding width.
        norm: norm name of the FPN convs.
    """

    @configurable
    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        encoder: EncoderSpec,
        transformer_pre_norm: bool,
        conv_dim: int,
        mask_dim: int,
        norm: str = "",
    ) -> None:
        # _build_top (called by the base constructor) reads these.
        self._encoder = encoder
        self._pre_norm = transformer_pre_norm
        super().__init__(input_shape, conv_dim=conv_dim, mask_dim=mask_dim, norm=norm)

    def _build_top(self, in_channels: int, conv_dim: int, norm: str) -> nn.Module:
        self.input_proj = Conv2d(in_channels, conv_dim, 1)
        c2_xavier_fill(self.input_proj)
        spec = self._encoder
        encoder = TransformerEncoder(
            conv_dim,
            spec.nheads,
            spec.num_layers,
            spec.dim_feedforward,
            dropout=spec.dropout,
            normalize_before=self._pre_norm,
        )
        xavier_init_matrices(encoder)
        # Named `transformer.encoder` as in the official checkpoints.
        self.transformer = nn.Module()
        self.transformer.encoder = encoder
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)
        return self._output_conv(conv_dim, conv_dim, norm)

    def _forward_top(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.transformer.encoder(self.input_proj(x), mask=None, pos=self.pe_layer(x))
        return self.output_convs[0](encoded), encoded

    def output_shape(self) -> PixelDecoderShape:
        encoder = ShapeSpec(channels=self.conv_dim, stride=self.in_strides[-1])
        return replace(super().output_shape(), encoder_features=encoder)

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        ret = super().from_config(cfg, input_shape)
        mf = cfg.MODEL.MASK_FORMER
        ret.update(encoder=EncoderSpec.from_config(cfg, mf.DIM_FEEDFORWARD), transformer_pre_norm=mf.PRE_NORM)
        return ret
