"""Meta-architectures."""

from .base import SegmentationModel
from .build import META_ARCH_REGISTRY
from .mask_former import MaskFormer
from .per_pixel_baseline import SemanticSegmentor

__all__ = ["META_ARCH_REGISTRY", "MaskFormer", "SegmentationModel", "SemanticSegmentor"]
