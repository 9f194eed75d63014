"""Augmentations (random, drawn from an explicit RNG) and the transforms they produce."""

from .augmentation import (
    Augmentation,
    ColorAugSSD,
    FixedSizeCrop,
    RandomApply,
    RandomCrop,
    RandomCropCategoryAreaConstraint,
    RandomFlip,
    ResizeScale,
    ResizeShortestEdge,
    apply_augmentations,
)
from .transform import (
    ColorTransform,
    CropTransform,
    HFlipTransform,
    PadTransform,
    ResizeTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "Augmentation",
    "ColorAugSSD",
    "ColorTransform",
    "CropTransform",
    "FixedSizeCrop",
    "HFlipTransform",
    "PadTransform",
    "RandomApply",
    "RandomCrop",
    "RandomCropCategoryAreaConstraint",
    "RandomFlip",
    "ResizeScale",
    "ResizeShortestEdge",
    "ResizeTransform",
    "Transform",
    "TransformList",
    "VFlipTransform",
    "apply_augmentations",
]
