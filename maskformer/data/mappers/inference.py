"""The test-time mapper: read, resize the short edge, to tensor; every other field passes through."""

from __future__ import annotations

from maskformer.config import configurable
from maskformer.data.mappers.augmentations import test_augmentations
from maskformer.data.mappers.base import MapperBase
from maskformer.data.mappers.build import DATASET_MAPPER_REGISTRY

__all__ = ["InferenceMapper"]


@DATASET_MAPPER_REGISTRY.register(name="test")
class InferenceMapper(MapperBase):
    """Output: ``image`` uint8 ``[3, H', W']`` (resized), ``height``/``width`` of the original image,
    plus the dataset dict's fields (``file_name``, ``image_id``, annotation file names, ...)."""

    @configurable
    def __init__(self, **kwargs) -> None:
        kwargs["is_train"] = False
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg, is_train: bool = False) -> dict:
        return {"augmentations": test_augmentations(cfg), "image_format": cfg.INPUT.FORMAT}
