"""Augmentation lists of the official mappers, built from the config."""

from __future__ import annotations

from maskformer.data.catalog import MetadataCatalog
from maskformer.data.transforms import (
    Augmentation,
    ColorAugSSD,
    FixedSizeCrop,
    RandomCropCategoryAreaConstraint,
    RandomFlip,
    ResizeScale,
    ResizeShortestEdge,
)

__all__ = [
    "flip_augmentation",
    "lsj_augmentations",
    "mask_former_augmentations",
    "test_augmentations",
    "train_ignore_label",
    "train_mapper_kwargs",
]


def train_ignore_label(cfg) -> int:
    """Ignore label of the first training set's metadata (official), else ``SEM_SEG_HEAD.IGNORE_VALUE``."""
    if cfg.DATASETS.TRAIN:
        ignore = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("ignore_label")
        if ignore is not None:
            return int(ignore)
    return int(cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE)


def train_mapper_kwargs(cfg, is_train: bool, augmentations: list[Augmentation]) -> dict:
    """The :class:`MapperBase` keyword arguments every config-built mapper shares."""
    return {
        "is_train": is_train,
        "augmentations": augmentations,
        "image_format": cfg.INPUT.FORMAT,
        "ignore_label": train_ignore_label(cfg),
        "size_divisibility": cfg.INPUT.SIZE_DIVISIBILITY,
    }


def flip_augmentation(cfg) -> list[Augmentation]:
    """``INPUT.RANDOM_FLIP``: "none", "horizontal" or "vertical"."""
    mode = cfg.INPUT.RANDOM_FLIP
    if mode not in ("none", "horizontal", "vertical"):
        raise ValueError(f"INPUT.RANDOM_FLIP must be 'none', 'horizontal' or 'vertical', got '{mode}'.")
    return [] if mode == "none" else [RandomFlip(horizontal=mode == "horizontal")]


def mask_former_augmentations(cfg, crop_constraint: bool = True) -> list[Augmentation]:
    """ResizeShortestEdge -> crop (single-category area constraint) -> SSD colour -> flip."""
    augs: list[Augmentation] = [
        ResizeShortestEdge(
            list(cfg.INPUT.MIN_SIZE_TRAIN), cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
        )
    ]
    if cfg.INPUT.CROP.ENABLED:
        max_area = cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA if crop_constraint else 1.0
        augs.append(
            RandomCropCategoryAreaConstraint(
                cfg.INPUT.CROP.TYPE, list(cfg.INPUT.CROP.SIZE), max_area, train_ignore_label(cfg)
            )
        )
    if cfg.INPUT.COLOR_AUG_SSD:
        augs.append(ColorAugSSD(image_format=cfg.INPUT.FORMAT))
    return augs + flip_augmentation(cfg)


def lsj_augmentations(cfg) -> list[Augmentation]:
    """Large-scale jitter: flip -> ResizeScale(MIN_SCALE..MAX_SCALE of IMAGE_SIZE) -> FixedSizeCrop."""
    size = cfg.INPUT.IMAGE_SIZE
    return flip_augmentation(cfg) + [
        ResizeScale(cfg.INPUT.MIN_SCALE, cfg.INPUT.MAX_SCALE, size, size),
        FixedSizeCrop((size, size)),
    ]


def test_augmentations(cfg) -> list[Augmentation]:
    """Test-time ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST)."""
    return [ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST, "choice")]
