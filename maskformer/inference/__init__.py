"""Inference: pure functions from mask classification outputs to semantic / panoptic / instance."""

from .detr_panoptic import detr_panoptic_inference
from .instance import (
    instance_inference,
    instance_pairs,
    instances_of_masks,
    instances_of_pairs,
    positive_masks,
)
from .panoptic import kept_queries, panoptic_inference
from .postprocess import resize_bilinear, sem_seg_postprocess, sigmoid_is_shareable, upsample_masks
from .semantic import semantic_inference
from .tta import SemanticSegmentorWithTTA

__all__ = [
    "SemanticSegmentorWithTTA",
    "detr_panoptic_inference",
    "instance_inference",
    "instance_pairs",
    "instances_of_masks",
    "instances_of_pairs",
    "kept_queries",
    "panoptic_inference",
    "positive_masks",
    "resize_bilinear",
    "sem_seg_postprocess",
    "semantic_inference",
    "sigmoid_is_shareable",
    "upsample_masks",
]
