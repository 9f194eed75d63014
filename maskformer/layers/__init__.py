"""Building blocks below the models: conv/norm wrappers and multi-scale deformable attention."""

from .conv import Conv2d, c2_msra_fill, c2_xavier_fill
from .norm import FrozenBatchNorm2d, LayerNorm2d, get_norm

__all__ = ["Conv2d", "FrozenBatchNorm2d", "LayerNorm2d", "c2_msra_fill", "c2_xavier_fill", "get_norm"]
