"""The dataset mapper registry and builder."""

from __future__ import annotations

from maskformer.registry import Registry

from .base import MapperBase

__all__ = ["DATASET_MAPPER_REGISTRY", "build_mapper"]

DATASET_MAPPER_REGISTRY = Registry("DATASET_MAPPER")
DATASET_MAPPER_REGISTRY.__doc__ = """Dataset mappers, looked up by ``INPUT.DATASET_MAPPER_NAME``.

A mapper is built as ``Mapper(cfg, is_train)`` and called as ``mapper(dataset_dict, rng)``.
"""


def build_mapper(cfg, is_train: bool) -> MapperBase:
    """Train mapper by ``INPUT.DATASET_MAPPER_NAME``, or the test mapper when ``is_train`` is False."""
    name = cfg.INPUT.DATASET_MAPPER_NAME if is_train else "test"
    return DATASET_MAPPER_REGISTRY.get(name)(cfg, is_train)
