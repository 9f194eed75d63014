"""Backbones: ResNet (incl. the deep-stem variant), Swin, any timm model."""

from .backbone import BACKBONE_REGISTRY, Backbone, build_backbone
from .resnet import ResNet, build_resnet_backbone
from .swin import D2SwinTransformer

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "D2SwinTransformer",
    "ResNet",
    "build_backbone",
    "build_resnet_backbone",
]
