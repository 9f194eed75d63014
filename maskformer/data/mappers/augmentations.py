"""Augmentation lists of the official mappers, built from the config."""

from __future__ import annotations

from maskformer.data import transforms as T
from maskformer.data.catalog import MetadataCatalog

__all__ = [
    "detr_panoptic_augmentations",
    "flip_augmentation",
    "lsj_augmentations",
    "mask_former_augmentations",
    "test_augmentations",
    "train_ignore_label",
    "train_mapper_kwargs",
]

DETR_CROP_SHORT_EDGES = (400, 500, 600)  # DETR's pre-crop resize (fixed in the official mapper)
DETR_CROP_PROB = 0.5


def train_ignore_label(cfg) -> int:
    """Ignore label of the first training set's metadata (official), else ``SEM_SEG_HEAD.IGNORE_VALUE``."""
    if cfg.DATASETS.TRAIN:
        ignore = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("ignore_label")
        if ignore is not None:
            return int(ignore)
    return int(cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE)


def train_mapper_kwargs(cfg, is_train: bool, augmentations: list[T.Augmentation]) -> dict:
    """The :class:`MapperBase` keyword arguments every config-built mapper shares."""
    return {
        "is_train": is_train,
        "augmentations": augmentations,
        "image_format": cfg.INPUT.FORMAT,
        "ignore_label": train_ignore_label(cfg),
        "size_divisibility": cfg.INPUT.SIZE_DIVISIBILITY,
    }


def flip_augmentation(cfg) -> list[T.Augmentation]:
    """``INPUT.RANDOM_FLIP``: "none", "horizontal" or "vertical"."""
    mode = cfg.INPUT.RANDOM_FLIP
    if mode not in ("none", "horizontal", "vertical"):
        raise ValueError(f"INPUT.RANDOM_FLIP must be 'none', 'horizontal' or 'vertical', got '{mode}'.")
    return [] if mode == "none" else [T.RandomFlip(horizontal=mode == "horizontal")]


def train_resize(cfg) -> T.ResizeShortestEdge:
    """``ResizeShortestEdge(INPUT.MIN_SIZE_TRAIN, INPUT.MAX_SIZE_TRAIN, INPUT.MIN_SIZE_TRAIN_SAMPLING)``."""
    return T.ResizeShortestEdge(
        list(cfg.INPUT.MIN_SIZE_TRAIN), cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
    )


def mask_former_augmentations(cfg, crop_constraint: bool = True) -> list[T.Augmentation]:
    """ResizeShortestEdge -> crop (single-category area constraint) -> SSD colour -> flip."""
    augs: list[T.Augmentation] = [train_resize(cfg)]
    if cfg.INPUT.CROP.ENABLED:
        max_area = cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA if crop_constraint else 1.0
        augs.append(
            T.RandomCropCategoryAreaConstraint(
                cfg.INPUT.CROP.TYPE, list(cfg.INPUT.CROP.SIZE), max_area, train_ignore_label(cfg)
            )
        )
    if cfg.INPUT.COLOR_AUG_SSD:
        augs.append(T.ColorAugSSD(image_format=cfg.INPUT.FORMAT))
    return augs + flip_augmentation(cfg)


def detr_panoptic_augmentations(cfg) -> list[T.Augmentation]:
    """MaskFormer's COCO panoptic (DETR) recipe: flip -> [crop] -> ResizeShortestEdge(MIN_SIZE_TRAIN).

    With ``INPUT.CROP.ENABLED``, half of the images are first resized to a short edge of 400, 500
    or 600 and randomly cropped (``INPUT.CROP.TYPE`` / ``SIZE``, e.g. "absolute_range" [384, 600]);
    the final resize applies to every image.
    """
    crop: list[T.Augmentation] = []
    if cfg.INPUT.CROP.ENABLED:
        pre_crop = T.ResizeShortestEdge(list(DETR_CROP_SHORT_EDGES), sample_style="choice")
        window = T.RandomCrop(cfg.INPUT.CROP.TYPE, list(cfg.INPUT.CROP.SIZE))
        crop = [T.RandomApply([pre_crop, window], prob=DETR_CROP_PROB)]
    return flip_augmentation(cfg) + crop + [train_resize(cfg)]


def lsj_augmentations(cfg) -> list[T.Augmentation]:
    """Large-scale jitter: flip -> ResizeScale(MIN_SCALE..MAX_SCALE of IMAGE_SIZE) -> FixedSizeCrop."""
    size = cfg.INPUT.IMAGE_SIZE
    return flip_augmentation(cfg) + [
        T.ResizeScale(cfg.INPUT.MIN_SCALE, cfg.INPUT.MAX_SCALE, size, size),
        T.FixedSizeCrop((size, size)),
    ]


def test_augmentations(cfg) -> list[T.Augmentation]:
    """Test-time ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST)."""
    return [T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST, "choice")]
