"""Safe YAML loading for config files: no code execution, no silently repeated keys.

* Only PyYAML's safe constructors are used. The one Python tag found in official configs,
  ``!!python/object/apply:eval ["<expression>"]``, is evaluated with :func:`safe_eval` (arithmetic
  list expressions only); any other tag raises :class:`ConfigError` naming the file and line.
* A key written twice in one mapping with two different values is an error (PyYAML silently keeps
  the last one); the same value twice only logs a warning (the official
  ``coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml`` repeats ``IN_FEATURES``).
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from iopath.common.file_io import g_pathmgr

from .safe_eval import UnsafeExpressionError, safe_eval

__all__ = ["ConfigError", "ConfigKeyError", "load_yaml"]

logger = logging.getLogger(__name__)

_EVAL_TAG = "tag:yaml.org,2002:python/object/apply:eval"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file/key and the fix."""


class ConfigKeyError(ConfigError, KeyError):
    """An unknown config key (also a KeyError, as in Detectron2)."""

    # KeyError.__str__ would print the message with quotes around it.
    __str__ = ConfigError.__str__


def _where(node: yaml.Node, filename: str) -> str:
    return f"{filename}, line {node.start_mark.line + 1}"


# libyaml's parser when PyYAML was built with it (several times faster); same safe constructors.
_SafeLoaderBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictSafeLoader(_SafeLoaderBase):
    """Safe loader with duplicate-key checks and the whitelisted ``eval`` tag."""

    filename = "<string>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            value = self.construct_object(value_node, deep=True)
            if key in mapping:
                if mapping[key] != value:
                    raise ConfigError(
                        f"{_where(key_node, self.filename)}: key '{key}' is written twice in the same "
                        f"mapping with different values ({mapping[key]!r} and {value!r}); YAML would "
                        "silently keep the last one. Delete one of them."
                    )
                logger.warning(
                    "%s: key '%s' is written twice with the same value %r.",
                    _where(key_node, self.filename),
                    key,
                    value,
                )
            mapping[key] = value
        return mapping


def _construct_eval(loader: _StrictSafeLoader, node: yaml.Node) -> Any:
    args = loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode) else None
    if not args or len(args) != 1 or not isinstance(args[0], str):
        raise ConfigError(
            f"{_where(node, loader.filename)}: !!python/object/apply:eval takes a list with one expression "
            'string, e.g. !!python/object/apply:eval ["[int(x * 0.1 * 512) for x in range(5, 21)]"]'
        )
    try:
        return safe_eval(args[0])
    except UnsafeExpressionError as e:
        raise ConfigError(f"{_where(node, loader.filename)}: refused to evaluate: {e}") from None


def _refuse_tag(loader: _StrictSafeLoader, suffix: str, node: yaml.Node) -> Any:
    raise ConfigError(
        f"{_where(node, loader.filename)}: the YAML tag '!!python/{suffix}' is not allowed: config files "
        "cannot create Python objects or run code. Only '!!python/object/apply:eval' with an arithmetic "
        "list expression is supported; write plain values instead."
    )


def _refuse_unknown(loader: _StrictSafeLoader, node: yaml.Node) -> Any:
    raise ConfigError(
        f"{_where(node, loader.filename)}: the YAML tag '{node.tag}' is not supported in config files; "
        "write a plain value instead."
    )


_StrictSafeLoader.add_constructor(_EVAL_TAG, _construct_eval)
_StrictSafeLoader.add_multi_constructor("tag:yaml.org,2002:python/", _refuse_tag)
_StrictSafeLoader.add_constructor(None, _refuse_unknown)


def load_yaml(filename: str) -> dict[str, Any]:
    """Loads one YAML config file (no ``_BASE_`` handling) safely.

    Args:
        filename: path or iopath URL of the file.

    Returns:
        The top-level mapping (empty dict for an empty file).

    Raises:
        ConfigError: on unsafe tags, conflicting duplicate keys, a YAML syntax error, or a top level
            that is not a mapping.
    """
    with g_pathmgr.open(filename, "r") as f:
        text = f.read()
    loader = _StrictSafeLoader(text)
    loader.filename = filename
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{filename}: invalid YAML: {e}") from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}: a config file must be a mapping of keys, got {type(data).__name__}")
    return data
