"""The meta-architecture registry."""

from __future__ import annotations

from maskformer.registry import Registry

__all__ = ["META_ARCH_REGISTRY"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """Whole models, looked up by ``MODEL.META_ARCHITECTURE``.

A registered class is built as ``cls(cfg, criterion=...)`` with the criterion of
``maskformer.criterion.build_criterion``; a class whose ``from_config`` takes ``thing_ids`` also
receives the datasets' thing classes (see :func:`maskformer.modeling.build_model`).
"""
