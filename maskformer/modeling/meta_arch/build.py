"""The meta-architecture registry and ``build_model``, the one entry point from a config to a model."""

from __future__ import annotations

import inspect
from collections.abc import Collection

import torch
from torch import nn

from maskformer.criterion import build_criterion
from maskformer.registry import Registry

__all__ = ["META_ARCH_REGISTRY", "build_model"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """Whole models, looked up by ``MODEL.META_ARCHITECTURE``.

A registered class is built as ``cls(cfg, criterion=...)`` with the criterion of
``maskformer.criterion.build_criterion``; a class whose ``from_config`` takes ``thing_ids`` also
receives the datasets' thing classes (see :func:`build_model`).
"""


def build_model(cfg, thing_ids: Collection[int] | None = None) -> nn.Module:
    """Builds ``MODEL.META_ARCHITECTURE`` with its criterion, on ``MODEL.DEVICE``.

    As in DETR, model and criterion are separate: the criterion named by ``MODEL.CRITERION.NAME``
    (empty: the meta-architecture's default) is built with
    :func:`maskformer.criterion.build_criterion` and handed to every meta-architecture. Those
    whose ``from_config`` takes ``thing_ids`` (panoptic and instance inference) receive the thing
    classes too; the model never reads dataset metadata.

    Args:
        cfg: the config.
        thing_ids: contiguous ids of the thing classes; None takes them from the metadata of the
            config's registered datasets (``DATASETS.TEST``, then ``DATASETS.TRAIN``). A model with
            panoptic inference on refuses to be built when they stay unknown.

    Returns:
        The model, in training mode; its inputs and outputs follow :mod:`maskformer.modeling.contract`.
    """
    meta_arch = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    kwargs = {"criterion": build_criterion(cfg)}
    if "thing_ids" in inspect.signature(meta_arch.from_config).parameters:
        if thing_ids is None:
            from maskformer.data import config_thing_ids  # the builder, not the model, reads metadata

            thing_ids = config_thing_ids(cfg)
        kwargs["thing_ids"] = thing_ids
    model = meta_arch(cfg, **kwargs)
    device = torch.device(cfg.MODEL.DEVICE)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"MODEL.DEVICE={cfg.MODEL.DEVICE!r} but CUDA is not available; set MODEL.DEVICE cpu."
        )
    return model.to(device)
