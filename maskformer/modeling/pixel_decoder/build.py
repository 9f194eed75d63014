"""The pixel decoder registry and builder."""

from __future__ import annotations

from maskformer.registry import Registry
from maskformer.structures import ShapeSpec

from .base import PixelDecoder

__all__ = ["PIXEL_DECODER_REGISTRY", "build_pixel_decoder"]

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """Pixel decoders, looked up by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME``.

A registered class derives from :class:`~maskformer.modeling.pixel_decoder.base.PixelDecoder`, is
built as ``cls(cfg, input_shape)`` and implements ``forward(features) -> PixelDecoderOutput`` and
``output_shape() -> PixelDecoderShape`` (see ``base.py``).
"""


def build_pixel_decoder(cfg, input_shape: dict[str, ShapeSpec]) -> PixelDecoder:
    """Builds the pixel decoder named by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME``.

    Args:
        cfg: the config.
        input_shape: the backbone's ``output_shape()``.

    Raises:
        TypeError: the registered class is not a :class:`PixelDecoder`.
    """
    name = cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME
    model = PIXEL_DECODER_REGISTRY.get(name)(cfg, input_shape)
    if not isinstance(model, PixelDecoder):
        raise TypeError(
            f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME={name!r} built a {type(model).__name__}, which is not "
            "a PixelDecoder: derive it from maskformer.modeling.pixel_decoder.base.PixelDecoder and "
            "implement forward(features) -> PixelDecoderOutput and output_shape()."
        )
    return model
