"""The criterion registries and their builders.

``CRITERION_REGISTRY`` holds what turns a meta-architecture's outputs and targets into the loss
dict (``SetCriterion`` for mask classification, ``PerPixelCrossEntropy`` for the per-pixel
baselines); ``MATCHER_REGISTRY`` the prediction <-> target matchers of ``SetCriterion``. A
researcher's criterion is a registered ``nn.Module`` built as ``cls(cfg)`` and named in
``MODEL.CRITERION.NAME``.
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry

__all__ = ["CRITERION_REGISTRY", "DEFAULT_CRITERIA", "MATCHER_REGISTRY", "build_criterion", "build_matcher"]

CRITERION_REGISTRY = Registry("CRITERION")
CRITERION_REGISTRY.__doc__ = "Losses of a whole model, chosen by MODEL.CRITERION.NAME."

MATCHER_REGISTRY = Registry("MATCHER")
MATCHER_REGISTRY.__doc__ = "Prediction <-> target matchers, chosen by MODEL.MASK_FORMER.MATCHER."

# The criterion of a meta-architecture when MODEL.CRITERION.NAME is empty; any other
# meta-architecture gets "SetCriterion".
DEFAULT_CRITERIA = {"SemanticSegmentor": "PerPixelCrossEntropy"}


def criterion_name(cfg) -> str:
    """``MODEL.CRITERION.NAME``, or when empty the default of ``MODEL.META_ARCHITECTURE``."""
    return cfg.MODEL.CRITERION.NAME or DEFAULT_CRITERIA.get(cfg.MODEL.META_ARCHITECTURE, "SetCriterion")


def build_criterion(cfg) -> nn.Module:
    """Builds the criterion named by :func:`criterion_name` from the config.

    ``SetCriterion`` reads ``MODEL.SEM_SEG_HEAD.NUM_CLASSES`` and ``MODEL.MASK_FORMER.*`` (weights,
    deep supervision, points, mask loss, matcher); ``PerPixelCrossEntropy`` reads
    ``MODEL.SEM_SEG_HEAD.{LOSS_WEIGHT, IGNORE_VALUE, COMMON_STRIDE}``.

    Args:
        cfg: the full config.

    Returns:
        An ``nn.Module`` mapping ``(outputs, targets)`` to a dict of weighted losses.
    """
    return _build_named(CRITERION_REGISTRY, "MODEL.CRITERION.NAME", criterion_name(cfg), cfg)


def build_matcher(cfg) -> nn.Module:
    """Builds the matcher named by ``MODEL.MASK_FORMER.MATCHER``."""
    return _build_named(MATCHER_REGISTRY, "MODEL.MASK_FORMER.MATCHER", cfg.MODEL.MASK_FORMER.MATCHER, cfg)


def _build_named(registry: Registry, key: str, name: str, cfg) -> nn.Module:
    """``registry.get(name)(cfg)``, with an error naming the config ``key`` for unknown names."""
    try:
        cls = registry.get(name)
    except KeyError as err:
        raise KeyError(f"{key} = {name!r} is not a known choice. {err}") from None
    return cls(cfg)
