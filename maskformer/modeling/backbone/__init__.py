"""Backbones: ResNet (incl. the deep-stem variant), Swin, any timm model."""

from .backbone import BACKBONE_REGISTRY, Backbone, build_backbone

__all__ = ["BACKBONE_REGISTRY", "Backbone", "build_backbone"]
