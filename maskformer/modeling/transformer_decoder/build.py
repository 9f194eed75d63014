"""The transformer decoder registry and builder."""

from __future__ import annotations

from torch import nn

from maskformer.registry import Registry

__all__ = ["TRANSFORMER_DECODER_REGISTRY", "build_transformer_decoder", "common_decoder_args"]

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


def common_decoder_args(cfg, in_channels: int, mask_classification: bool) -> dict:
    """The constructor arguments both registered decoders read the same way from the config.

    Args:
        cfg: the config (``MODEL.SEM_SEG_HEAD`` and ``MODEL.MASK_FORMER``).
        in_channels: channels of the attended features.
        mask_classification: predict a class per query.

    Returns:
        ``in_channels``, ``mask_classification``, ``num_classes``, ``hidden_dim``, ``num_queries``,
        ``nheads``, ``dim_feedforward``, ``pre_norm``, ``mask_dim``, ``enforce_input_project``.
    """
    mf = cfg.MODEL.MASK_FORMER
    return {
        "in_channels": in_channels,
        "mask_classification": mask_classification,
        "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        "hidden_dim": mf.HIDDEN_DIM,
        "num_queries": mf.NUM_OBJECT_QUERIES,
        "nheads": mf.NHEADS,
        "dim_feedforward": mf.DIM_FEEDFORWARD,
        "pre_norm": mf.PRE_NORM,
        "mask_dim": cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
        "enforce_input_project": mf.ENFORCE_INPUT_PROJ,
    }
