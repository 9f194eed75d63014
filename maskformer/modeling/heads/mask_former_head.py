"""``MaskFormerHead``: pixel decoder + transformer decoder ("predictor")."""

from __future__ import annotations

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.structures import ShapeSpec

from ..pixel_decoder.base import PixelDecoder, PixelDecoderOutput, PixelDecoderShape
from ..pixel_decoder.build import build_pixel_decoder
from ..transformer_decoder.build import build_transformer_decoder
from .build import SEM_SEG_HEAD_REGISTRY

__all__ = ["MaskFormerHead", "decoder_input_channels", "select_decoder_input"]

# The maps the predictor can attend to, besides a backbone feature picked by name.
_DECODER_INPUTS = ("multi_scale_pixel_decoder", "transformer_encoder", "pixel_embedding")


def decoder_input_channels(
    name: str, decoder_shape: PixelDecoderShape, backbone_shape: dict[str, ShapeSpec]
) -> int:
    """Channels of the map(s) the predictor attends to, as the built pixel decoder declares them.

    Args:
        name: ``MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE``: one of ``_DECODER_INPUTS`` or a
            backbone feature name.
        decoder_shape: the pixel decoder's ``output_shape()``.
        backbone_shape: the backbone's ``output_shape()``.
    """
    if name == "multi_scale_pixel_decoder":
        return decoder_shape.conv_dim
    if name == "transformer_encoder":
        if decoder_shape.encoder_features is None:
            raise ValueError(
                "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE='transformer_encoder' needs a pixel decoder with "
                "a transformer encoder: set MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME="
                "'TransformerEncoderPixelDecoder'."
            )
        return decoder_shape.encoder_features.channels
    if name == "pixel_embedding":
        return decoder_shape.mask_dim
    if name not in backbone_shape:
        raise ValueError(
            f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE={name!r} is neither one of {list(_DECODER_INPUTS)} "
            f"nor a backbone output ({sorted(backbone_shape)})."
        )
    return backbone_shape[name].channels


def select_decoder_input(
    name: str, features: dict[str, torch.Tensor], decoded: PixelDecoderOutput
) -> torch.Tensor | list[torch.Tensor]:
    """The map(s) the predictor attends to, by ``TRANSFORMER_IN_FEATURE`` name (checked by
    :func:`decoder_input_channels` when the head was built).

    Args:
        name: the feature name.
        features: backbone maps by name.
        decoded: the pixel decoder's output.
    """
    if name == "multi_scale_pixel_decoder":
        return decoded.multi_scale_features
    if name == "transformer_encoder":
        return decoded.encoder_features
    if name == "pixel_embedding":
        return decoded.mask_features
    return features[name]


@SEM_SEG_HEAD_REGISTRY.register()
class MaskFormerHead(nn.Module):
    """Turns backbone features into per-query class logits and mask logits.

    Args:
        pixel_decoder: the pixel decoder (``pixel_decoder/base.py`` states its contract).
        predictor: transformer decoder ``(x, mask_features, mask) -> predictions``.
        transformer_in_feature: what the predictor attends to: ``"multi_scale_pixel_decoder"``,
            ``"transformer_encoder"``, ``"pixel_embedding"`` or a backbone feature name.
        num_classes: K (kept for introspection).
    """

    @configurable
    def __init__(
        self,
        *,
        pixel_decoder: PixelDecoder,
        predictor: nn.Module,
        transformer_in_feature: str,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor
        self.transformer_in_feature = transformer_in_feature
        self.num_classes = num_classes

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        pixel_decoder = build_pixel_decoder(cfg, input_shape)
        in_feature = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
        in_channels = decoder_input_channels(in_feature, pixel_decoder.output_shape(), input_shape)
        return {
            "pixel_decoder": pixel_decoder,
            "predictor": cls.build_predictor(cfg, in_channels),
            "transformer_in_feature": in_feature,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        }

    @classmethod
    def build_predictor(cls, cfg, in_channels: int) -> nn.Module:
        """The transformer decoder named by ``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME``.

        Args:
            cfg: the config.
            in_channels: width of the map(s) it attends to.
        """
        return build_transformer_decoder(cfg, in_channels, mask_classification=True)

    def forward(self, features: dict[str, torch.Tensor], mask: torch.Tensor | None = None) -> dict:
        """Backbone features -> ``{"pred_logits", "pred_masks", "aux_outputs"}`` (decoder contract).

        Args:
            features: backbone maps by name.
            mask: optional bool ``[B, H, W]`` padding mask for the predictor (True = pad).
        """
        decoded = self.pixel_decoder(features)
        x = select_decoder_input(self.transformer_in_feature, features, decoded)
        return self.predictor(x, decoded.mask_features, mask)
