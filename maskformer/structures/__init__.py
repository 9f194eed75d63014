"""Data structures shared by every stage."""

from .image_list import ImageList
from .instances import Instances
from .masks import masks_to_boxes
from .shape_spec import ShapeSpec

__all__ = ["ImageList", "Instances", "ShapeSpec", "masks_to_boxes"]
