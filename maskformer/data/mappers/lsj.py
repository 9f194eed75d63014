"""``coco_instance_lsj`` and ``coco_panoptic_lsj``: the instance / panoptic mappers with large-scale jitter.

Same targets as :class:`InstanceMapper` / :class:`PanopticMapper`; only the augmentations differ
(flip -> ResizeScale -> FixedSizeCrop of ``INPUT.IMAGE_SIZE``, images padded with 128).
"""

from __future__ import annotations

from maskformer.data.mappers.augmentations import lsj_augmentations, train_mapper_kwargs
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY
from maskformer.data.mappers.instance import InstanceMapper
from maskformer.data.mappers.panoptic import PanopticMapper

__all__ = ["LSJInstanceMapper", "LSJPanopticMapper"]


@DATASET_MAPPER_REGISTRY.register(name="coco_instance_lsj")
class LSJInstanceMapper(InstanceMapper):
    """Instance mapper with large-scale jitter (Mask2Former's COCO instance training).

    Unlike the other mappers, instances the crop leaves without area are dropped, as officially
    (a polygon clipped away by the crop window, an RLE mask without pixels).
    """

    filter_empty = True

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        return train_mapper_kwargs(cfg, is_train, lsj_augmentations(cfg))


@DATASET_MAPPER_REGISTRY.register(name="coco_panoptic_lsj")
class LSJPanopticMapper(PanopticMapper):
    """Panoptic mapper with large-scale jitter (Mask2Former's COCO panoptic training)."""

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        return train_mapper_kwargs(cfg, is_train, lsj_augmentations(cfg))
