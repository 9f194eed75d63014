"""Segmentation heads: MaskFormerHead and the per-pixel baselines."""

from .build import SEM_SEG_HEAD_REGISTRY, build_sem_seg_head
from .mask_former_head import MaskFormerHead
from .per_pixel_baseline import PerPixelBaselineHead, PerPixelBaselinePlusHead

__all__ = [
    "SEM_SEG_HEAD_REGISTRY",
    "MaskFormerHead",
    "PerPixelBaselineHead",
    "PerPixelBaselinePlusHead",
    "build_sem_seg_head",
]
