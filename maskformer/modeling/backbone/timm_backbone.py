"""Any timm model as a backbone, through timm's ``features_only`` interface."""

from __future__ import annotations

import torch

from maskformer.config import configurable
from maskformer.structures import ShapeSpec

from .backbone import Backbone
from .build import BACKBONE_REGISTRY

__all__ = ["TimmBackbone"]


@BACKBONE_REGISTRY.register()
class TimmBackbone(Backbone):
    """Wraps ``timm.create_model(name, features_only=True)``; maps strides 4/8/16/32 to res2..res5.

    Args:
        name: timm model name, e.g. ``"resnet18"``, ``"convnext_tiny"``.
        out_indices: timm feature indices to return; their strides must be distinct powers of two
            between 4 and 32.
        pretrained: let timm load its pretrained weights (may download; off by default).
        in_chans: input channels.
    """

    @configurable
    def __init__(
        self,
        *,
        name: str,
        out_indices: tuple[int, ...] = (1, 2, 3, 4),
        pretrained: bool = False,
        in_chans: int = 3,
    ) -> None:
        # Imported here: timm takes seconds to import and only this backbone needs it.
        import timm

        super().__init__()
        if not name:
            raise ValueError("MODEL.TIMM.NAME is empty; set it to a timm model name, e.g. 'resnet50'.")
        if not timm.is_model(name):
            raise ValueError(f"MODEL.TIMM.NAME={name!r} is not a timm model; see timm.list_models().")
        self.model = timm.create_model(
            name, features_only=True, out_indices=tuple(out_indices), pretrained=pretrained, in_chans=in_chans
        )
        strides = self.model.feature_info.reduction()
        channels = self.model.feature_info.channels()
        names = {4: "res2", 8: "res3", 16: "res4", 32: "res5"}
        if len(set(strides)) != len(strides) or any(s not in names for s in strides):
            raise ValueError(
                f"MODEL.TIMM.OUT_INDICES={list(out_indices)} of {name!r} give strides {strides}; pick "
                "indices with distinct strides among 4, 8, 16, 32."
            )
        self._out_features = [names[s] for s in strides]
        self._out_feature_strides = {names[s]: s for s in strides}
        self._out_feature_channels = {names[s]: c for s, c in zip(strides, channels)}

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec) -> dict:
        t = cfg.MODEL.TIMM
        return {
            "name": t.NAME,
            "out_indices": tuple(t.OUT_INDICES),
            "pretrained": t.PRETRAINED,
            "in_chans": input_shape.channels,
        }

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, 3, H, W]`` -> ``{"res2".."res5": [B, C_i, H / s_i, W / s_i]}`` (the requested ones)."""
        return dict(zip(self._out_features, self.model(x)))
