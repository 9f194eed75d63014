"""Draft CfgNode and get_cfg (to be replaced by the config owner)."""

from __future__ import annotations

from fvcore.common.config import CfgNode as _FvCfgNode


class CfgNode(_FvCfgNode):
    """Detectron2-style config node."""


def get_cfg() -> CfgNode:
    """A fresh copy of the default config tree."""
    from .defaults import _C

    return CfgNode(_C.clone())
