"""The segmentation head registry and builder."""

from __future__ import annotations

from torch import nn

from maskformer.registry import Registry
from maskformer.structures import ShapeSpec

__all__ = ["SEM_SEG_HEAD_REGISTRY", "build_sem_seg_head"]

SEM_SEG_HEAD_REGISTRY = Registry("SEM_SEG_HEAD")
SEM_SEG_HEAD_REGISTRY.__doc__ = """Segmentation heads, looked up by ``MODEL.SEM_SEG_HEAD.NAME``.

A registered class is built as ``cls(cfg, input_shape)`` from the backbone's output shapes.
"""


def build_sem_seg_head(cfg, input_shape: dict[str, ShapeSpec]) -> nn.Module:
    """Builds the head named by ``MODEL.SEM_SEG_HEAD.NAME``.

    Args:
        cfg: the config.
        input_shape: the backbone's ``output_shape()``.
    """
    return SEM_SEG_HEAD_REGISTRY.get(cfg.MODEL.SEM_SEG_HEAD.NAME)(cfg, input_shape)
