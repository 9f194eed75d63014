"""``detr_panoptic``: MaskFormer's COCO panoptic training mapper (DETR's augmentation recipe).

Augmentations (:func:`~maskformer.data.mappers.augmentations.detr_panoptic_augmentations`):
horizontal flip; then, with probability 0.5 and ``INPUT.CROP.ENABLED``, a resize of the short
edge to 400, 500 or 600 followed by a random crop (``INPUT.CROP.TYPE`` / ``SIZE``); then
``ResizeShortestEdge(INPUT.MIN_SIZE_TRAIN, INPUT.MAX_SIZE_TRAIN)``. Targets are those of
:class:`~maskformer.data.mappers.panoptic.PanopticMapper` (one per non-crowd segment).
"""

from __future__ import annotations

from maskformer.data.mappers.augmentations import detr_panoptic_augmentations, train_mapper_kwargs
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY
from maskformer.data.mappers.panoptic import PanopticMapper

__all__ = ["DETRPanopticMapper"]


@DATASET_MAPPER_REGISTRY.register(name="detr_panoptic")
class DETRPanopticMapper(PanopticMapper):
    """Panoptic mapper with the DETR augmentations, as the official MaskFormer COCO panoptic recipe.

    As officially: no ``sem_seg`` output (the semantic file is not read even when present), an
    unconstrained crop, and no padding in the mapper (``INPUT.SIZE_DIVISIBILITY`` is left to the
    model, which pads the batch).
    """

    reads_sem_seg = False

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        kwargs = train_mapper_kwargs(cfg, is_train, detr_panoptic_augmentations(cfg))
        return {**kwargs, "size_divisibility": -1}

    def constraint_map(self, record, maps):
        return None
