"""Segmentation heads: MaskFormerHead and the per-pixel baselines."""

from .build import SEM_SEG_HEAD_REGISTRY, build_sem_seg_head

__all__ = ["SEM_SEG_HEAD_REGISTRY", "build_sem_seg_head"]
