"""The pixel decoder registry and builder."""

from __future__ import annotations

from torch import nn

from maskformer.registry import Registry
from maskformer.structures import ShapeSpec

__all__ = ["PIXEL_DECODER_REGISTRY", "build_pixel_decoder"]

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """Pixel decoders, looked up by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME``.

A registered class is built as ``cls(cfg, input_shape)`` and implements
``forward_features(features) -> (mask_features [B, C, H/4, W/4], transformer_encoder_features or
None, multi_scale_features: list of 3 maps, lowest resolution first)``.
"""


def build_pixel_decoder(cfg, input_shape: dict[str, ShapeSpec]) -> nn.Module:
    """Builds the pixel decoder named by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME``.

    Args:
        cfg: the config.
        input_shape: the backbone's ``output_shape()``.
    """
    name = cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME
    model = PIXEL_DECODER_REGISTRY.get(name)(cfg, input_shape)
    if not callable(getattr(model, "forward_features", None)):
        raise TypeError(
            f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME={name!r} has no forward_features method; "
            "a pixel decoder must implement forward_features(features)."
        )
    return model
