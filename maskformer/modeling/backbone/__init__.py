"""Backbones: ResNet (incl. the deep-stem variant), Swin, any timm model."""

from .backbone import Backbone
from .build import BACKBONE_REGISTRY, build_backbone
from .resnet import ResNet, build_resnet_backbone
from .swin import D2SwinTransformer
from .timm_backbone import TimmBackbone

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "D2SwinTransformer",
    "ResNet",
    "TimmBackbone",
    "build_backbone",
    "build_resnet_backbone",
]
