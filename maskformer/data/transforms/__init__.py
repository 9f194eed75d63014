"""Augmentations (random, drawn from an explicit RNG) and the transforms they produce.

The package exports what its two modules list in ``__all__``: the augmentations of
``augmentation.py`` and the deterministic transforms of ``transform.py``.
"""

from . import augmentation, transform
from .augmentation import *  # noqa: F403
from .transform import *  # noqa: F403

__all__ = sorted([*augmentation.__all__, *transform.__all__])
