"""Transformer decoders and their shared layers."""

from .build import TRANSFORMER_DECODER_REGISTRY, build_transformer_decoder
from .position_encoding import PositionEmbeddingSine
from .standard import StandardTransformerDecoder

__all__ = [
    "TRANSFORMER_DECODER_REGISTRY",
    "PositionEmbeddingSine",
    "StandardTransformerDecoder",
    "build_transformer_decoder",
]
