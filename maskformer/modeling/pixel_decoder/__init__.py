"""Pixel decoders: FPN, FPN + transformer encoder, multi-scale deformable attention."""

from .build import PIXEL_DECODER_REGISTRY, build_pixel_decoder
from .fpn import BasePixelDecoder
from .msdeformattn import MSDeformAttnPixelDecoder
from .transformer_encoder_fpn import TransformerEncoderPixelDecoder

__all__ = [
    "PIXEL_DECODER_REGISTRY",
    "BasePixelDecoder",
    "MSDeformAttnPixelDecoder",
    "TransformerEncoderPixelDecoder",
    "build_pixel_decoder",
]
