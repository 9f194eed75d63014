"""Pixel decoders: FPN, FPN + transformer encoder, multi-scale deformable attention, and the
Mask2Former Table 4e ablations (Semantic FPN, FaPN, BiFPN)."""

from .base import PixelDecoder, PixelDecoderOutput, PixelDecoderShape
from .bifpn import BiFPNPixelDecoder
from .build import PIXEL_DECODER_REGISTRY, build_pixel_decoder
from .encoder_spec import EncoderSpec
from .fapn import FaPNPixelDecoder
from .fpn import BasePixelDecoder
from .msdeformattn import MSDeformAttnPixelDecoder
from .semantic_fpn import SemanticFPNPixelDecoder
from .transformer_encoder_fpn import TransformerEncoderPixelDecoder

__all__ = [
    "PIXEL_DECODER_REGISTRY",
    "BasePixelDecoder",
    "BiFPNPixelDecoder",
    "EncoderSpec",
    "FaPNPixelDecoder",
    "MSDeformAttnPixelDecoder",
    "PixelDecoder",
    "PixelDecoderOutput",
    "PixelDecoderShape",
    "SemanticFPNPixelDecoder",
    "TransformerEncoderPixelDecoder",
    "build_pixel_decoder",
]
