"""Models: backbones, pixel decoders, transformer decoders, heads and meta-architectures.

Importing this package registers every built-in component in its registry.
"""

from .backbone import BACKBONE_REGISTRY, Backbone, D2SwinTransformer, ResNet, TimmBackbone, build_backbone
from .heads import (
    SEM_SEG_HEAD_REGISTRY,
    MaskFormerHead,
    PerPixelBaselineHead,
    PerPixelBaselinePlusHead,
    build_sem_seg_head,
)
from .meta_arch import META_ARCH_REGISTRY, MaskFormer, SemanticSegmentor, build_model
from .pixel_decoder import (
    PIXEL_DECODER_REGISTRY,
    BasePixelDecoder,
    BiFPNPixelDecoder,
    FaPNPixelDecoder,
    MSDeformAttnPixelDecoder,
    PixelDecoder,
    PixelDecoderOutput,
    PixelDecoderShape,
    SemanticFPNPixelDecoder,
    TransformerEncoderPixelDecoder,
    build_pixel_decoder,
)
from .transformer_decoder import (
    TRANSFORMER_DECODER_REGISTRY,
    MultiScaleMaskedTransformerDecoder,
    StandardTransformerDecoder,
    build_transformer_decoder,
)

__all__ = [
    "BACKBONE_REGISTRY",
    "META_ARCH_REGISTRY",
    "PIXEL_DECODER_REGISTRY",
    "SEM_SEG_HEAD_REGISTRY",
    "TRANSFORMER_DECODER_REGISTRY",
    "Backbone",
    "BasePixelDecoder",
    "BiFPNPixelDecoder",
    "D2SwinTransformer",
    "FaPNPixelDecoder",
    "MSDeformAttnPixelDecoder",
    "MaskFormer",
    "MaskFormerHead",
    "MultiScaleMaskedTransformerDecoder",
    "PerPixelBaselineHead",
    "PerPixelBaselinePlusHead",
    "PixelDecoder",
    "PixelDecoderOutput",
    "PixelDecoderShape",
    "ResNet",
    "SemanticFPNPixelDecoder",
    "SemanticSegmentor",
    "StandardTransformerDecoder",
    "TimmBackbone",
    "TransformerEncoderPixelDecoder",
    "build_backbone",
    "build_model",
    "build_pixel_decoder",
    "build_sem_seg_head",
    "build_transformer_decoder",
]
