"""Transformer decoders and their shared layers."""

from .build import TRANSFORMER_DECODER_REGISTRY, build_transformer_decoder
from .masked_attention import MultiScaleMaskedTransformerDecoder
from .position_encoding import PositionEmbeddingSine
from .standard import StandardTransformerDecoder

__all__ = [
    "TRANSFORMER_DECODER_REGISTRY",
    "MultiScaleMaskedTransformerDecoder",
    "PositionEmbeddingSine",
    "StandardTransformerDecoder",
    "build_transformer_decoder",
]
