"""Models: backbones, pixel decoders, transformer decoders, heads and meta-architectures.

Importing this package registers every built-in component in its registry.
"""

from .backbone import BACKBONE_REGISTRY, Backbone, build_backbone
from .heads import SEM_SEG_HEAD_REGISTRY, build_sem_seg_head
from .meta_arch import META_ARCH_REGISTRY
from .pixel_decoder import PIXEL_DECODER_REGISTRY, build_pixel_decoder
from .transformer_decoder import TRANSFORMER_DECODER_REGISTRY, build_transformer_decoder

__all__ = [
    "BACKBONE_REGISTRY",
    "META_ARCH_REGISTRY",
    "PIXEL_DECODER_REGISTRY",
    "SEM_SEG_HEAD_REGISTRY",
    "TRANSFORMER_DECODER_REGISTRY",
    "Backbone",
    "build_backbone",
    "build_pixel_decoder",
    "build_sem_seg_head",
    "build_transformer_decoder",
]
