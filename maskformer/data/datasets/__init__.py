"""Dataset loaders (real formats), registration helpers, the built-in splits and the shapes dataset."""

from .builtin import datasets_root, register_builtin_datasets, register_datasets
from .coco_instances import load_coco_json, register_coco_instances
from .coco_panoptic import load_coco_panoptic_json, register_coco_panoptic
from .metadata import instance_metadata, load_categories, panoptic_metadata, semantic_metadata
from .register_shapes import register_shapes
from .sem_seg import load_sem_seg, register_sem_seg
from .shapes import SHAPES_CATEGORIES, ShapesSpec, ensure_shapes_dataset

__all__ = [
    "SHAPES_CATEGORIES",
    "ShapesSpec",
    "datasets_root",
    "ensure_shapes_dataset",
    "instance_metadata",
    "load_categories",
    "load_coco_json",
    "load_coco_panoptic_json",
    "load_sem_seg",
    "panoptic_metadata",
    "register_builtin_datasets",
    "register_datasets",
    "register_coco_instances",
    "register_coco_panoptic",
    "register_sem_seg",
    "register_shapes",
    "semantic_metadata",
]
