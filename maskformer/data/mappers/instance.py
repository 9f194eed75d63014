"""``mask_former_instance``: one target per non-crowd instance of a COCO-instance-format image."""

from __future__ import annotations

import numpy as np

from maskformer.config import configurable
from maskformer.data.mappers.augmentations import mask_former_augmentations, train_mapper_kwargs
from maskformer.data.mappers.base import DATASET_MAPPER_REGISTRY, MapperBase, masks_to_instances
from maskformer.structures import Instances
from maskformer.structures.masks import segmentation_to_bitmask

__all__ = ["InstanceMapper"]


@DATASET_MAPPER_REGISTRY.register(name="mask_former_instance")
class InstanceMapper(MapperBase):
    """Instance training mapper.

    Crowd annotations are dropped, as in the official mapper. Each segmentation (polygons or
    RLE) is rasterised at the original image size and the bitmask stack goes through the same
    transforms as the image, so masks and image stay aligned pixel for pixel. The crop is a plain
    random crop (instance data has no semantic map for the area constraint). Masks emptied by a
    crop stay targets, as officially.
    """

    filter_empty = False  # drop instances a crop left without pixels (only the LSJ mapper does)

    @configurable
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        return train_mapper_kwargs(cfg, is_train, mask_former_augmentations(cfg, crop_constraint=False))

    def read_maps(self, record, image_hw):
        if "annotations" not in record:
            raise ValueError(
                f"'{record['file_name']}' has no 'annotations'; the instance mappers need a "
                f"COCO-instance-format dataset (or set INPUT.DATASET_MAPPER_NAME to match your data)."
            )
        h, w = image_hw
        objects = _non_crowd(record)
        masks = np.zeros((len(objects), h, w), dtype=np.uint8)
        for i, obj in enumerate(objects):
            if "segmentation" not in obj:
                raise ValueError(
                    f"An annotation of '{record['file_name']}' has no 'segmentation'; "
                    f"mask training needs one."
                )
            try:
                masks[i] = segmentation_to_bitmask(obj["segmentation"], h, w)
            except ValueError as e:
                raise ValueError(f"Annotation of '{record['file_name']}': {e}") from e
        return {"instance_masks": masks}

    def constraint_map(self, record, maps):
        return None

    def build_targets(self, record, maps, image_hw) -> Instances:
        classes = [int(obj["category_id"]) for obj in _non_crowd(record)]
        masks = maps["instance_masks"].bool()
        if self.filter_empty:
            keep = masks.flatten(1).any(dim=1)
            classes, masks = [c for c, k in zip(classes, keep.tolist()) if k], masks[keep]
        return masks_to_instances(classes, masks, image_hw)


def _non_crowd(record: dict) -> list[dict]:
    """Crowd annotations are not targets (official behaviour)."""
    return [obj for obj in record["annotations"] if not obj.get("iscrowd", 0)]
