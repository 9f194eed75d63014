"""Meta-architectures and ``build_model``."""

from .base import SegmentationModel
from .build import META_ARCH_REGISTRY, build_model
from .mask_former import MaskFormer
from .per_pixel_baseline import SemanticSegmentor

__all__ = ["META_ARCH_REGISTRY", "MaskFormer", "SegmentationModel", "SemanticSegmentor", "build_model"]
