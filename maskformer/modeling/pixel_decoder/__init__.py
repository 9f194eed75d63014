"""Pixel decoders: FPN, FPN + transformer encoder, multi-scale deformable attention."""

from .build import PIXEL_DECODER_REGISTRY, build_pixel_decoder

__all__ = ["PIXEL_DECODER_REGISTRY", "build_pixel_decoder"]
