"""Configuration: the default tree, safe YAML loading with ``_BASE_``, and ``@configurable``."""

from .config import CfgNode, ConfigError, ConfigKeyError, get_cfg, load_config
from .configurable import configurable

__all__ = ["CfgNode", "ConfigError", "ConfigKeyError", "configurable", "get_cfg", "load_config"]
