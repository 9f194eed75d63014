"""The per-pixel classification baselines of the MaskFormer paper (Tables 2 and 4).

``PerPixelBaselineHead``: the pixel decoder followed by a 1x1 classifier. ``PerPixelBaselinePlusHead``:
the same pixel decoder followed by the MaskFormer transformer decoder with one query per class and
no class head, so each query's mask is that class's per-pixel logit map. Both are trained with a
per-pixel cross-entropy, the criterion ``maskformer.criterion.PerPixelCrossEntropy``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_msra_fill
from maskformer.structures import ShapeSpec

from ..pixel_decoder.base import PixelDecoder
from ..pixel_decoder.build import build_pixel_decoder
from ..transformer_decoder.standard import StandardTransformerDecoder
from .build import SEM_SEG_HEAD_REGISTRY
from .mask_former_head import MaskFormerHead

__all__ = ["PerPixelBaselineHead", "PerPixelBaselinePlusHead"]


@SEM_SEG_HEAD_REGISTRY.register()
class PerPixelBaselineHead(nn.Module):
    """Pixel decoder + 1x1 conv classifier on the stride-4 per-pixel embeddings.

    Args:
        pixel_decoder: the pixel decoder (``pixel_decoder/base.py`` states its contract).
        num_classes: K.
        common_stride: stride of the logits (4).
    """

    @configurable
    def __init__(self, *, pixel_decoder: PixelDecoder, num_classes: int, common_stride: int = 4) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.num_classes = num_classes
        self.common_stride = common_stride
        self.predictor = Conv2d(pixel_decoder.output_shape().mask_dim, num_classes, kernel_size=1)
        c2_msra_fill(self.predictor)

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "pixel_decoder": build_pixel_decoder(cfg, input_shape),
            "num_classes": head.NUM_CLASSES,
            "common_stride": head.COMMON_STRIDE,
        }

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Backbone features -> ``{"sem_seg_logits": [B, K, H/4, W/4], "aux_sem_seg_logits": []}``."""
        mask_features = self.pixel_decoder(features).mask_features
        return {"sem_seg_logits": self.predictor(mask_features), "aux_sem_seg_logits": []}


@SEM_SEG_HEAD_REGISTRY.register()
class PerPixelBaselinePlusHead(MaskFormerHead):
    """:class:`MaskFormerHead` whose transformer decoder has K queries and no class head (the "+"
    baseline): each query's mask is its class's logit map. The decoder's deep supervision
    (``MODEL.MASK_FORMER.DEEP_SUPERVISION``) gives the intermediate layers' logits.

    Args:
        common_stride: stride of the logits (4).
        head: the :class:`MaskFormerHead` arguments; ``predictor`` built with
            ``mask_classification=False`` and K queries.
    """

    @configurable
    def __init__(self, *, common_stride: int = 4, **head: Any) -> None:
        super().__init__(**head)
        self.common_stride = common_stride

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        head = cfg.MODEL.SEM_SEG_HEAD
        num_queries = cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES
        if num_queries != head.NUM_CLASSES:
            raise ValueError(
                f"PerPixelBaselinePlusHead uses one query per class: MODEL.MASK_FORMER.NUM_OBJECT_QUERIES "
                f"({num_queries}) must equal MODEL.SEM_SEG_HEAD.NUM_CLASSES ({head.NUM_CLASSES})."
            )
        return {**super().from_config(cfg, input_shape), "common_stride": head.COMMON_STRIDE}

    @classmethod
    def build_predictor(cls, cfg, in_channels: int) -> nn.Module:
        """The MaskFormer decoder without a class head (whatever ``TRANSFORMER_DECODER_NAME`` says)."""
        return StandardTransformerDecoder(cfg, in_channels, mask_classification=False)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Backbone features -> ``{"sem_seg_logits": [B, K, H/4, W/4], "aux_sem_seg_logits": [...]}``."""
        predictions = super().forward(features)
        aux = [a["pred_masks"] for a in predictions["aux_outputs"]]
        return {"sem_seg_logits": predictions["pred_masks"], "aux_sem_seg_logits": aux}
