"""The per-pixel classification baselines of the MaskFormer paper (Tables 2 and 4).

``PerPixelBaselineHead``: the pixel decoder followed by a 1x1 classifier. ``PerPixelBaselinePlusHead``:
the same pixel decoder followed by the MaskFormer transformer decoder with one query per class and
no class head, so each query's mask is that class's per-pixel logit map. Both are trained with a
per-pixel cross-entropy, the criterion ``maskformer.criterion.PerPixelCrossEntropy``.
"""

from __future__ import annotations

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_msra_fill
from maskformer.structures import ShapeSpec

from ..pixel_decoder.base import PixelDecoder
from ..pixel_decoder.build import build_pixel_decoder
from ..transformer_decoder.standard import StandardTransformerDecoder
from .build import SEM_SEG_HEAD_REGISTRY
from .mask_former_head import decoder_input_channels, select_decoder_input

__all__ = ["PerPixelBaselineHead", "PerPixelBaselinePlusHead"]


class _PerPixelHead(nn.Module):
    """What both baselines share: the pixel decoder, K and the logits' stride."""

    def __init__(self, pixel_decoder: PixelDecoder, num_classes: int, common_stride: int) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.num_classes = num_classes
        self.common_stride = common_stride

    @staticmethod
    def _common_config(cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "pixel_decoder": build_pixel_decoder(cfg, input_shape),
            "num_classes": head.NUM_CLASSES,
            "common_stride": head.COMMON_STRIDE,
        }


@SEM_SEG_HEAD_REGISTRY.register()
class PerPixelBaselineHead(_PerPixelHead):
    """Pixel decoder + 1x1 conv classifier on the stride-4 per-pixel embeddings.

    Args:
        pixel_decoder: the pixel decoder (``pixel_decoder/base.py`` states its contract).
        num_classes: K.
        common_stride: stride of the logits (4).
    """

    @configurable
    def __init__(
        self,
        *,
        pixel_decoder: PixelDecoder,
        num_classes: int,
        common_stride: int = 4,
    ) -> None:
        super().__init__(pixel_decoder, num_classes, common_stride)
        self.predictor = Conv2d(pixel_decoder.output_shape().mask_dim, num_classes, kernel_size=1)
        c2_msra_fill(self.predictor)

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        return cls._common_config(cfg, input_shape)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Backbone features -> ``{"sem_seg_logits": [B, K, H/4, W/4], "aux_sem_seg_logits": []}``."""
        mask_features = self.pixel_decoder(features).mask_features
        return {"sem_seg_logits": self.predictor(mask_features), "aux_sem_seg_logits": []}


@SEM_SEG_HEAD_REGISTRY.register()
class PerPixelBaselinePlusHead(_PerPixelHead):
    """Pixel decoder + transformer decoder with K queries and no class head (the "+" baseline).

    Args:
        pixel_decoder: as for :class:`PerPixelBaselineHead`.
        predictor: a transformer decoder built with ``mask_classification=False`` and K queries.
        transformer_in_feature: what the predictor attends to (see ``MaskFormerHead``).
        deep_supervision: also return (and train) the intermediate layers' logits.
        num_classes: K.
        common_stride: stride of the logits (4).
    """

    @configurable
    def __init__(
        self,
        *,
        pixel_decoder: PixelDecoder,
        predictor: nn.Module,
        transformer_in_feature: str,
        deep_supervision: bool,
        num_classes: int,
        common_stride: int = 4,
    ) -> None:
        super().__init__(pixel_decoder, num_classes, common_stride)
        self.predictor = predictor
        self.transformer_in_feature = transformer_in_feature
        self.deep_supervision = deep_supervision

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        ret = cls._common_config(cfg, input_shape)
        num_queries = cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES
        if num_queries != ret["num_classes"]:
            raise ValueError(
                f"PerPixelBaselinePlusHead uses one query per class: MODEL.MASK_FORMER.NUM_OBJECT_QUERIES "
                f"({num_queries}) must equal MODEL.SEM_SEG_HEAD.NUM_CLASSES ({ret['num_classes']})."
            )
        in_feature = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
        in_channels = decoder_input_channels(in_feature, ret["pixel_decoder"].output_shape(), input_shape)
        ret.update(
            predictor=StandardTransformerDecoder(cfg, in_channels, mask_classification=False),
            transformer_in_feature=in_feature,
            deep_supervision=cfg.MODEL.MASK_FORMER.DEEP_SUPERVISION,
        )
        return ret

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Backbone features -> ``{"sem_seg_logits": [B, K, H/4, W/4], "aux_sem_seg_logits": [...]}``."""
        decoded = self.pixel_decoder(features)
        x = select_decoder_input(self.transformer_in_feature, features, decoded)
        predictions = self.predictor(x, decoded.mask_features)
        aux = [a["pred_masks"] for a in predictions["aux_outputs"]] if self.deep_supervision else []
        return {"sem_seg_logits": predictions["pred_masks"], "aux_sem_seg_logits": aux}
