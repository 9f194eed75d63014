"""The backbone registry and builder."""

from __future__ import annotations

from maskformer.registry import Registry
from maskformer.structures import ShapeSpec

from .backbone import Backbone

__all__ = ["BACKBONE_REGISTRY", "build_backbone"]

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """Backbones, looked up by ``MODEL.BACKBONE.NAME``.

A registered object is called as ``obj(cfg, input_shape)`` and returns a :class:`Backbone`.
"""


def build_backbone(cfg, input_shape: ShapeSpec | None = None) -> Backbone:
    """Builds the backbone named by ``MODEL.BACKBONE.NAME``.

    Args:
        cfg: the config.
        input_shape: input image shape; defaults to ``len(MODEL.PIXEL_MEAN)`` channels.
    """
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    backbone = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg, input_shape)
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"MODEL.BACKBONE.NAME={cfg.MODEL.BACKBONE.NAME!r} built a {type(backbone).__name__}, "
            "which is not a maskformer.modeling.Backbone subclass."
        )
    return backbone
