"""Inference: pure functions from mask classification outputs to semantic / panoptic / instance."""

from .detr_panoptic import detr_panoptic_inference
from .instance import instance_inference
from .panoptic import panoptic_inference
from .postprocess import sem_seg_postprocess
from .semantic import semantic_inference
from .tta import SemanticSegmentorWithTTA

__all__ = [
    "SemanticSegmentorWithTTA",
    "detr_panoptic_inference",
    "instance_inference",
    "panoptic_inference",
    "sem_seg_postprocess",
    "semantic_inference",
]
