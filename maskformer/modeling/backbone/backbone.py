"""The backbone contract: ``Backbone``, the base class every registered backbone returns."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from maskformer.structures import ShapeSpec

__all__ = ["Backbone"]


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
