"""``build_model``: the one entry point from a config to a model."""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from maskformer.criterion import build_criterion

from .meta_arch import META_ARCH_REGISTRY

__all__ = ["build_model"]


def build_model(cfg, thing_ids: Collection[int] | None = None) -> nn.Module:
    """Builds ``MODEL.META_ARCHITECTURE`` (and its criterion) on ``MODEL.DEVICE``.

    The criterion is built here with :func:`maskformer.criterion.build_criterion` and handed to
    meta-architectures that declare ``needs_criterion``; the model never reads dataset metadata.

    Args:
        cfg: the config.
        thing_ids: contiguous ids of the thing classes; None takes them from the metadata of the
            config's registered datasets (``DATASETS.TEST``, then ``DATASETS.TRAIN``). A model with
            panoptic inference on refuses to be built when they stay unknown.

    Returns:
        The model, in training mode.
    """
    if thing_ids is None:
        from maskformer.data import config_thing_ids  # the builder, not the model, reads metadata

        thing_ids = config_thing_ids(cfg)
    meta_arch = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    criterion = build_criterion(cfg) if getattr(meta_arch, "needs_criterion", False) else None
    model = meta_arch(cfg, criterion=criterion, thing_ids=thing_ids)
    device = torch.device(cfg.MODEL.DEVICE)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"MODEL.DEVICE={cfg.MODEL.DEVICE!r} but CUDA is not available; set MODEL.DEVICE cpu."
        )
    return model.to(device)
