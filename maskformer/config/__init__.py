"""Configuration: the default tree, YAML loading and ``@configurable``."""

from .config import CfgNode, get_cfg
from .configurable import configurable

__all__ = ["CfgNode", "configurable", "get_cfg"]
