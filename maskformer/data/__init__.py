"""Data: catalog, dataset loaders, augmentations, mappers and loaders.

Importing this package registers no dataset; call :func:`register_builtin_datasets`.
"""

from .build import build_test_loader, build_train_loader, build_train_sampler, get_dataset_dicts
from .catalog import DatasetCatalog, Metadata, MetadataCatalog
from .classes import ClassInfo, config_class_info, config_thing_ids, metadata_thing_ids
from .datasets import (
    ShapesSpec,
    register_builtin_datasets,
    register_coco_instances,
    register_coco_panoptic,
    register_sem_seg,
    register_shapes,
)
from .mappers import DATASET_MAPPER_REGISTRY, build_mapper
from .samplers import InferenceSampler, RepeatFactorTrainingSampler, TrainingSampler
from .validation import Problem, validate_dataset

__all__ = [
    "ClassInfo",
    "DATASET_MAPPER_REGISTRY",
    "DatasetCatalog",
    "InferenceSampler",
    "Metadata",
    "MetadataCatalog",
    "Problem",
    "RepeatFactorTrainingSampler",
    "ShapesSpec",
    "TrainingSampler",
    "build_mapper",
    "build_test_loader",
    "build_train_loader",
    "build_train_sampler",
    "config_class_info",
    "config_thing_ids",
    "metadata_thing_ids",
    "get_dataset_dicts",
    "register_builtin_datasets",
    "register_coco_instances",
    "register_coco_panoptic",
    "register_sem_seg",
    "register_shapes",
    "validate_dataset",
]
