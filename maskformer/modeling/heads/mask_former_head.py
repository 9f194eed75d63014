"""``MaskFormerHead``: pixel decoder + transformer decoder ("predictor")."""

from __future__ import annotations

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.structures import ShapeSpec

from ..pixel_decoder.build import build_pixel_decoder
from ..transformer_decoder.build import build_transformer_decoder
from .build import SEM_SEG_HEAD_REGISTRY

__all__ = ["MaskFormerHead", "transformer_in_channels"]

# The maps the predictor can attend to, besides a backbone feature picked by name.
_DECODER_INPUTS = ("multi_scale_pixel_decoder", "transformer_encoder", "pixel_embedding")


def transformer_in_channels(cfg, input_shape: dict[str, ShapeSpec]) -> int:
    """Channels of the map named by ``MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE``."""
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
    if name in ("transformer_encoder", "multi_scale_pixel_decoder"):
        return cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM
    if name == "pixel_embedding":
        return cfg.MODEL.SEM_SEG_HEAD.MASK_DIM
    if name not in input_shape:
        raise ValueError(
            f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE={name!r} is neither one of {list(_DECODER_INPUTS)} "
            f"nor a backbone output ({sorted(input_shape)})."
        )
    return input_shape[name].channels


def select_decoder_input(
    name: str,
    features: dict[str, torch.Tensor],
    mask_features: torch.Tensor,
    encoder_features: torch.Tensor | None,
    multi_scale_features: list[torch.Tensor],
) -> torch.Tensor | list[torch.Tensor]:
    """The map(s) the predictor attends to, by ``TRANSFORMER_IN_FEATURE`` name."""
    if name == "multi_scale_pixel_decoder":
        return multi_scale_features
    if name == "transformer_encoder":
        if encoder_features is None:
            raise ValueError(
                "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE='transformer_encoder' needs a pixel decoder with "
                "a transformer encoder: set MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME="
                "'TransformerEncoderPixelDecoder'."
            )
        return encoder_features
    if name == "pixel_embedding":
        return mask_features
    return features[name]


@SEM_SEG_HEAD_REGISTRY.register()
class MaskFormerHead(nn.Module):
    """Turns backbone features into per-query class logits and mask logits.

    Args:
        pixel_decoder: module with ``forward_features`` (see the pixel decoder contract).
        predictor: transformer decoder ``(x, mask_features, mask) -> predictions``.
        transformer_in_feature: what the predictor attends to: ``"multi_scale_pixel_decoder"``,
            ``"transformer_encoder"``, ``"pixel_embedding"`` or a backbone feature name.
        num_classes: K (kept for introspection).
    """

    @configurable
    def __init__(
        self, *, pixel_decoder: nn.Module, predictor: nn.Module, transformer_in_feature: str, num_classes: int
    ) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor
        self.transformer_in_feature = transformer_in_feature
        self.num_classes = num_classes

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        return {
            "pixel_decoder": build_pixel_decoder(cfg, input_shape),
            "predictor": build_transformer_decoder(
                cfg, transformer_in_channels(cfg, input_shape), mask_classification=True
            ),
            "transformer_in_feature": cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        }

    def forward(self, features: dict[str, torch.Tensor], mask: torch.Tensor | None = None) -> dict:
        """Backbone features -> ``{"pred_logits", "pred_masks", "aux_outputs"}`` (decoder contract).

        Args:
            features: backbone maps by name.
            mask: optional bool ``[B, H, W]`` padding mask for the predictor (True = pad).
        """
        mask_features, encoder_features, multi_scale = self.pixel_decoder.forward_features(features)
        x = select_decoder_input(
            self.transformer_in_feature, features, mask_features, encoder_features, multi_scale
        )
        return self.predictor(x, mask_features, mask)
