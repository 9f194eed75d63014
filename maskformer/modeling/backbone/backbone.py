"""The backbone contract and its registry."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from maskformer.registry import Registry
from maskformer.structures import ShapeSpec

__all__ = ["BACKBONE_REGISTRY", "Backbone", "build_backbone"]

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """Backbones, looked up by ``MODEL.BACKBONE.NAME``.

A registered object is called as ``obj(cfg, input_shape)`` and returns a :class:`Backbone`.
"""


class Backbone(nn.Module, metaclass=ABCMeta):
    """A network mapping an image batch to named multi-scale feature maps.

    Subclasses set ``_out_features``, ``_out_feature_channels`` and ``_out_feature_strides``.
    """

    _out_features: list[str]
    _out_feature_channels: dict[str, int]
    _out_feature_strides: dict[str, int]

    @abstractmethod
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` ``[B, 3, H, W]`` -> ``{name: [B, C_name, H / stride_name, W / stride_name]}``."""

    @property
    def size_divisibility(self) -> int:
        """Input H and W must be multiples of this (0 = no constraint)."""
        return 0

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Channels and stride of every output feature."""
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }


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
