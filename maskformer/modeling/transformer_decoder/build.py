"""The transformer decoder registry and builder."""

from __future__ import annotations

from torch import nn

from maskformer.registry import Registry

__all__ = ["TRANSFORMER_DECODER_REGISTRY", "build_transformer_decoder"]

TRANSFORMER_DECODER_REGISTRY = Registry("TRANSFORMER_DECODER")
TRANSFORMER_DECODER_REGISTRY.__doc__ = """Transformer decoders (the "predictor"), looked up by
``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME``.

A registered class is built as ``cls(cfg, in_channels, mask_classification)`` and implements
``forward(x, mask_features, mask=None) -> {"pred_logits", "pred_masks", "aux_outputs"}``.
"""


def build_transformer_decoder(cfg, in_channels: int, mask_classification: bool = True) -> nn.Module:
    """Builds the decoder named by ``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME``.

    Args:
        cfg: the config.
        in_channels: channels of the feature map the decoder attends to.
        mask_classification: predict a class per query (always True for MaskFormer models).
    """
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME
    return TRANSFORMER_DECODER_REGISTRY.get(name)(cfg, in_channels, mask_classification)
