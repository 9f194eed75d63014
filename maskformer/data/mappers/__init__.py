"""Dataset mappers (dataset dict -> model input), registered by ``INPUT.DATASET_MAPPER_NAME``."""

from .base import MapperBase
from .build import DATASET_MAPPER_REGISTRY, build_mapper
from .detr_panoptic import DETRPanopticMapper
from .inference import InferenceMapper
from .instance import InstanceMapper
from .lsj import LSJInstanceMapper, LSJPanopticMapper
from .panoptic import PanopticMapper
from .semantic import SemanticMapper

__all__ = [
    "DATASET_MAPPER_REGISTRY",
    "DETRPanopticMapper",
    "InstanceMapper",
    "LSJInstanceMapper",
    "LSJPanopticMapper",
    "MapperBase",
    "PanopticMapper",
    "SemanticMapper",
    "InferenceMapper",
    "build_mapper",
]
