"""``mask_former_instance``: one target per non-crowd instance of a COCO-instance-format image."""

from __future__ import annotations

import numpy as np

from maskformer.config import configurable
from maskformer.data.mappers.augmentations import mask_former_augmentations, train_mapper_kwargs
from maskformer.data.mappers.base import MapperBase, masks_to_instances
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY
from maskformer.data.transforms import Transform
from maskformer.structures import Instances
from maskformer.structures.masks import polygons_to_bitmask, segmentation_to_bitmask

__all__ = ["InstanceMapper"]


@DATASET_MAPPER_REGISTRY.register(name="mask_former_instance")
class InstanceMapper(MapperBase):
    """Instance training mapper.

    As in the official mapper: crowd annotations are dropped; polygons are transformed as
    polygons (a crop clips them to its window) and rasterised at the training resolution, while
    RLE masks are decoded at the original size and transformed as bitmaps with the image. The crop
    is a plain random crop (instance data has no semantic map for the area constraint). Masks
    emptied by a crop stay targets.
    """

    filter_empty = False  # drop instances a crop left without area (only the LSJ mapper does)

    @configurable
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        return train_mapper_kwargs(cfg, is_train, mask_former_augmentations(cfg, crop_constraint=False))

    def read_maps(self, record, image_hw):
        """The bitmasks of the non-polygon (RLE / array) segmentations, ``[M, H, W]`` uint8."""
        if "annotations" not in record:
            raise ValueError(
                f"'{record['file_name']}' has no 'annotations'; the instance mappers need a "
                f"COCO-instance-format dataset (or set INPUT.DATASET_MAPPER_NAME to match your data)."
            )
        h, w = image_hw
        bitmasks = []
        for obj in _non_crowd(record):
            if "segmentation" not in obj:
                raise ValueError(
                    f"An annotation of '{record['file_name']}' has no 'segmentation'; "
                    f"mask training needs one."
                )
            if _is_polygons(obj["segmentation"]):
                continue
            try:
                bitmasks.append(segmentation_to_bitmask(obj["segmentation"], h, w))
            except ValueError as e:
                raise ValueError(f"Annotation of '{record['file_name']}': {e}") from e
        return {"bitmasks": _stack(bitmasks, image_hw)}

    def constraint_map(self, record, maps):
        return None

    def after_augmentation(self, record, maps, transforms: Transform, image_hw):
        """Rasterises the transformed polygons at ``image_hw`` and merges them with the bitmasks in
        annotation order into ``instance_masks`` ``[N, H, W]``; ``record["annotations"]`` becomes
        the matching target objects."""
        bitmasks = iter(maps.pop("bitmasks"))
        masks, objects = [], []
        for obj in _non_crowd(record):
            if _is_polygons(obj["segmentation"]):
                polygons = transforms.apply_polygons(obj["segmentation"])
                mask, present = polygons_to_bitmask(polygons, *image_hw), bool(polygons)
            else:
                mask = next(bitmasks)
                present = bool(mask.any())
            if present or not self.filter_empty:
                masks.append(mask)
                objects.append(obj)
        record["annotations"] = objects
        return {**maps, "instance_masks": _stack(masks, image_hw)}

    def build_targets(self, record, maps, image_hw) -> Instances:
        classes = [int(obj["category_id"]) for obj in record["annotations"]]
        return masks_to_instances(classes, maps["instance_masks"].bool(), image_hw)


def _non_crowd(record: dict) -> list[dict]:
    """Crowd annotations are not targets (official behaviour)."""
    return [obj for obj in record["annotations"] if not obj.get("iscrowd", 0)]


def _is_polygons(segmentation) -> bool:
    return isinstance(segmentation, list)


def _stack(masks: list[np.ndarray], image_hw: tuple[int, int]) -> np.ndarray:
    """``[N, H, W]`` uint8 stack (``N`` may be 0)."""
    if not masks:
        return np.zeros((0, *image_hw), dtype=np.uint8)
    return np.stack(masks).astype(np.uint8)
