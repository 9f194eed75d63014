"""``mask_former_panoptic``: one target per non-crowd segment of a COCO-panoptic-format image."""

from __future__ import annotations

import logging

import numpy as np

from maskformer.config import configurable
from maskformer.data.image_io import read_label_map, read_panoptic_ids
from maskformer.data.mappers.augmentations import mask_former_augmentations, train_mapper_kwargs
from maskformer.data.mappers.base import MapperBase, masks_to_instances
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY
from maskformer.structures import Instances

__all__ = ["PanopticMapper"]

logger = logging.getLogger(__name__)


@DATASET_MAPPER_REGISTRY.register(name="mask_former_panoptic")
class PanopticMapper(MapperBase):
    """Panoptic training mapper.

    As in the official mapper, crowd segments are not targets (their pixels are simply not
    supervised by any mask), ``sem_seg`` is output when the dict has ``sem_seg_file_name``, and the
    panoptic map is padded with 0 (void). PNG segment ids missing from ``segments_info`` get no
    target, with a logged warning naming the file.

    Output adds ``instances`` (``gt_classes`` ``[N]``, ``gt_masks`` ``[N, H, W]`` bool) and maybe
    ``sem_seg``.
    """

    reads_sem_seg = True  # output ``sem_seg`` when the dataset dict has ``sem_seg_file_name``

    @configurable
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        return train_mapper_kwargs(cfg, is_train, mask_former_augmentations(cfg))

    def read_maps(self, record, image_hw):
        if "pan_seg_file_name" not in record or "segments_info" not in record:
            raise ValueError(
                f"'{record['file_name']}' has no 'pan_seg_file_name' / 'segments_info'; the panoptic mappers "
                f"need a COCO-panoptic-format dataset (or set INPUT.DATASET_MAPPER_NAME to match your data)."
            )
        maps = {"pan_seg": read_panoptic_ids(record["pan_seg_file_name"])}
        if self.reads_sem_seg and "sem_seg_file_name" in record:
            maps["sem_seg"] = read_label_map(record["sem_seg_file_name"])
        for name, array in maps.items():
            if array.shape != tuple(image_hw):
                raise ValueError(
                    f"The {name} map of '{record['file_name']}' is {array.shape} "
                    f"but the image is {tuple(image_hw)}."
                )
        _warn_unknown_ids(maps["pan_seg"], record)
        return maps

    def constraint_map(self, record, maps):
        """The semantic file if present, else the semantic map implied by the panoptic map."""
        if "sem_seg" in maps:
            return maps["sem_seg"]
        pan = maps["pan_seg"]
        sem = np.full(pan.shape, self.ignore_label, dtype=np.int64)
        for segment in record["segments_info"]:
            sem[pan == segment["id"]] = segment["category_id"]
        return sem

    def pad_values(self):
        return {"sem_seg": self.ignore_label, "pan_seg": 0}

    def build_targets(self, record, maps, image_hw) -> Instances:
        pan = maps["pan_seg"]
        segments = [s for s in record["segments_info"] if not s.get("iscrowd", 0)]
        classes = [int(s["category_id"]) for s in segments]
        return masks_to_instances(classes, [pan == s["id"] for s in segments], image_hw)


def _warn_unknown_ids(pan: np.ndarray, record: dict) -> None:
    present = set(np.unique(pan).tolist())
    absent = {s["id"] for s in record["segments_info"]} - present
    if absent:
        logger.warning(
            "Panoptic PNG '%s' has no pixel of segments %s listed in its segments_info; they become "
            "empty-mask targets. Fix the PNG or drop those segments.",
            record["pan_seg_file_name"],
            sorted(absent)[:5],
        )
    ids = present - {0} - {s["id"] for s in record["segments_info"]}
    if ids:
        logger.warning(
            "Panoptic PNG '%s' has %d segment ids not in its segments_info (%s); their pixels get no target.",
            record["pan_seg_file_name"],
            len(ids),
            sorted(ids)[:5],
        )
