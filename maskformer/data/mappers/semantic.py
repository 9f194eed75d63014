"""``mask_former_semantic``: one target per class present in the semantic map."""

from __future__ import annotations

import numpy as np
import torch

from maskformer.config import configurable
from maskformer.data.image_io import read_label_map
from maskformer.data.mappers.augmentations import mask_former_augmentations, train_mapper_kwargs
from maskformer.data.mappers.base import MapperBase, masks_to_instances
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY
from maskformer.structures import Instances

__all__ = ["SemanticMapper"]


@DATASET_MAPPER_REGISTRY.register(name="mask_former_semantic")
class SemanticMapper(MapperBase):
    """Semantic training mapper (MaskFormer / Mask2Former semantic segmentation).

    Output adds ``sem_seg`` int64 ``[H, W]`` and ``instances`` with one bool mask per class
    present (ignore label excluded), in increasing class order.

    Args:
        num_classes: labels must be < num_classes or equal to the ignore label (checked per image).
        **kwargs: see :class:`MapperBase`.
    """

    @configurable
    def __init__(self, *, num_classes: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        kwargs = train_mapper_kwargs(cfg, is_train, mask_former_augmentations(cfg))
        return {**kwargs, "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES}

    def read_maps(self, record, image_hw):
        if "sem_seg_file_name" not in record:
            raise ValueError(
                f"'{record['file_name']}' has no 'sem_seg_file_name'; the mask_former_semantic mapper "
                f"needs a "
                f"semantic segmentation dataset (or set INPUT.DATASET_MAPPER_NAME to match your data)."
            )
        sem_seg = read_label_map(record["sem_seg_file_name"])
        if sem_seg.shape != tuple(image_hw):
            raise ValueError(
                f"Label map '{record['sem_seg_file_name']}' is {sem_seg.shape} but its image "
                f"'{record['file_name']}' is {tuple(image_hw)}."
            )
        self._check_labels(sem_seg, record["sem_seg_file_name"])
        return {"sem_seg": sem_seg}

    def _check_labels(self, sem_seg: np.ndarray, path: str) -> None:
        if self.num_classes is None:
            return
        labels = np.unique(sem_seg)
        bad = labels[(labels != self.ignore_label) & ((labels < 0) | (labels >= self.num_classes))]
        if len(bad):
            raise ValueError(
                f"Label map '{path}' contains labels {bad.tolist()} outside [0, {self.num_classes}) "
                f"and not the "
                f"ignore label {self.ignore_label}. Check MODEL.SEM_SEG_HEAD.NUM_CLASSES, the dataset's "
                f"ignore_label, or convert the labels with datasets/prepare_*.py."
            )

    def build_targets(self, record, maps, image_hw) -> Instances:
        sem_seg = maps["sem_seg"]
        classes = [int(c) for c in torch.unique(sem_seg).tolist() if c != self.ignore_label]
        masks = [sem_seg == c for c in classes]
        return masks_to_instances(classes, masks, image_hw)
