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
from .fpn import BasePixelDecoder

__all__ = ["TransformerEncoderPixelDecoder"]


@PIXEL_DECODER_REGISTRY.register()
class TransformerEncoderPixelDecoder(BasePixelDecoder):
    """:class:`BasePixelDecoder` whose coarsest level is ``input_proj`` (1x1) -> transformer
    encoder (``transformer.encoder``) -> ``layer_{n}`` (3x3 conv); the encoder output is also
    returned, for decoders that attend to it (``TRANSFORMER_IN_FEATURE: transformer_encoder``).

    Args:
        input_shape: backbone features to use.
        transformer_dropout: encoder dropout (``MODEL.MASK_FORMER.DROPOUT``).
        transformer_nheads: encoder heads (``MODEL.MASK_FORMER.NHEADS``).
        transformer_dim_feedforward: encoder FFN width (``MODEL.MASK_FORMER.DIM_FEEDFORWARD``).
        transformer_enc_layers: encoder layers (``MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS``).
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
        transformer_dropout: float,
        transformer_nheads: int,
        transformer_dim_feedforward: int,
        transformer_enc_layers: int,
        transformer_pre_norm: bool,
        conv_dim: int,
        mask_dim: int,
        norm: str = "",
    ) -> None:
        # _build_top (called by the base constructor) reads these.
        self._encoder_args = (transformer_nheads, transformer_enc_layers, transformer_dim_feedforward)
        self._encoder_kwargs = {"dropout": transformer_dropout, "normalize_before": transformer_pre_norm}
        super().__init__(input_shape, conv_dim=conv_dim, mask_dim=mask_dim, norm=norm)

    def _build_top(self, in_channels: int, conv_dim: int, norm: str) -> nn.Module:
        self.input_proj = Conv2d(in_channels, conv_dim, 1)
        c2_xavier_fill(self.input_proj)
        nheads, num_layers, dim_feedforward = self._encoder_args
        encoder = TransformerEncoder(conv_dim, nheads, num_layers, dim_feedforward, **self._encoder_kwargs)
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
        ret.update(
            transformer_dropout=mf.DROPOUT,
            transformer_nheads=mf.NHEADS,
            transformer_dim_feedforward=mf.DIM_FEEDFORWARD,
            transformer_enc_layers=cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS,
            transformer_pre_norm=mf.PRE_NORM,
        )
        return ret
