"""``CfgNode`` with ``_BASE_`` chains and strict, safe merging; ``get_cfg()``.

Differences from fvcore / Detectron2 (same API otherwise):

* YAML is always loaded safely (see ``yaml_loader.py``); ``allow_unsafe`` is accepted and ignored.
* ``_BASE_`` may be one path or a list of paths, relative to the including file; chains nest, and a
  cycle or a missing base is an error naming the including file.
* An unknown key is an error naming the key, the file and close matches ("did you mean ...").
  All unknown keys of a file are reported at once.
* Values are type-checked (an int is accepted for a float key, a list for a tuple and back,
  anything for a key whose default is None); a frozen config refuses merges.
* Keys without effect here (``compat.NO_EFFECT_KEYS``) are logged once per key and process when a
  file or an override sets them to a non-default value, and MaskFormer-era files get MaskFormer
  behaviour (``compat.maskformer_era_overrides``).
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
from collections.abc import Sequence
from typing import Any

from fvcore.common.config import CfgNode as _FvCfgNode

from .compat import maskformer_era_overrides, warn_no_effect
from .value_checks import check_value
from .yaml_loader import ConfigError, ConfigKeyError, load_yaml

__all__ = ["BASE_KEY", "CfgNode", "ConfigError", "ConfigKeyError", "get_cfg"]

BASE_KEY = "_BASE_"


class CfgNode(_FvCfgNode):
    """Detectron2-style config node with strict, safe merging (see the module docstring)."""

    @classmethod
    def load_yaml_with_base(cls, filename: str, allow_unsafe: bool = False) -> dict[str, Any]:
        """Loads a YAML file and its ``_BASE_`` chain into one nested dict (children override bases).

        Args:
            filename: the config file.
            allow_unsafe: ignored; files are always loaded safely.
        """
        return _load_chain(str(filename), ())

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merges a YAML file (with its ``_BASE_`` chain) into this config.

        Args:
            cfg_filename: the config file.
            allow_unsafe: ignored; files are always loaded safely.

        Raises:
            ConfigKeyError: a key does not exist (message lists close matches).
            ConfigError: bad value type, unsafe YAML, conflicting duplicate key, missing base.
        """
        cfg_filename = str(cfg_filename)
        loaded = self.load_yaml_with_base(cfg_filename)
        era = maskformer_era_overrides(loaded, _to_dict(self))
        self._merge_dict(loaded, cfg_filename, log_no_effect=True)
        if era:
            _log_era(cfg_filename, era)
            self.merge_from_list([x for kv in era.items() for x in kv])

    def merge_from_other_cfg(self, cfg_other: _FvCfgNode) -> None:
        """Merges another config (every key must exist here)."""
        self._merge_dict(_to_dict(cfg_other), "<merge_from_other_cfg>", log_no_effect=False)

    def merge_from_list(self, cfg_list: list) -> None:
        """Merges ``[KEY, VALUE, KEY, VALUE, ...]`` (e.g. command-line overrides).

        String values are parsed as Python literals when they are one (``"[1, 2]"``, ``"0.5"``,
        ``"True"``) and kept as strings otherwise, then type-checked against the current value.
        """
        if len(cfg_list) % 2 != 0:
            raise ConfigError(
                f"Override list has odd length {len(cfg_list)}: expected KEY VALUE pairs, got {cfg_list}"
            )
        self._check_mutable("merge_from_list")
        for full_key, raw in zip(cfg_list[0::2], cfg_list[1::2]):
            if full_key == BASE_KEY:
                raise ConfigError(f"'{BASE_KEY}' can only be used in config files, not in overrides.")
            node, leaf = self._locate(full_key, "command-line override")
            value = self._decode_cfg_value(raw)
            value = _coerce(value, node[leaf], full_key, "command-line override")
            check_value(full_key, value, "command-line override")
            warn_no_effect(full_key, value, node[leaf], "command-line override")
            node[leaf] = value

    def _check_mutable(self, what: str) -> None:
        if self.is_frozen():
            raise AttributeError(f"Cannot {what}: the config is frozen. Call cfg.defrost() first.")

    def _locate(self, full_key: str, source: str) -> tuple[CfgNode, str]:
        """The node holding ``full_key``'s value and its last key part; unknown keys raise."""
        parts = full_key.split(".")
        node = self
        for depth, part in enumerate(parts):
            if not isinstance(node, CfgNode) or part not in node:
                raise ConfigKeyError(_unknown_key_message(self, [full_key], source))
            if depth < len(parts) - 1:
                node = node[part]
        if isinstance(node[parts[-1]], CfgNode):
            raise ConfigError(f"{source}: '{full_key}' is a section, not a value; set one of its keys.")
        return node, parts[-1]

    def _merge_dict(self, loaded: dict[str, Any], source: str, log_no_effect: bool) -> None:
        """Strictly merges a nested dict: every key must exist and every value type must fit."""
        self._check_mutable("merge a config")
        unknown = _unknown_keys(self, loaded, "")
        if unknown:
            raise ConfigKeyError(_unknown_key_message(self, unknown, source))
        _merge_into(self, loaded, "", source, log_no_effect)


def _merge_into(node: CfgNode, loaded: dict[str, Any], prefix: str, source: str, log: bool) -> None:
    for key, value in loaded.items():
        full_key = prefix + key
        current = node[key]
        if isinstance(current, CfgNode):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: '{full_key}' is a section; write it as a mapping of keys, not {value!r}."
                )
            _merge_into(current, value, full_key + ".", source, log)
            continue
        if isinstance(value, dict):
            raise ConfigError(f"{source}: '{full_key}' is a value (default {current!r}), not a section.")
        # As in Detectron2, a string holding a Python literal is that literal: official files write
        # tuples as TRAIN: ("coco_2017_train",) and floats as 1e-6 (a string for YAML 1.1).
        value = _coerce(node._decode_cfg_value(value), current, full_key, source)
        check_value(full_key, value, source)
        if log:
            warn_no_effect(full_key, value, current, source)
        dict.__setitem__(node, key, value)


def _unknown_keys(node: CfgNode, loaded: dict[str, Any], prefix: str) -> list[str]:
    unknown = []
    for key, value in loaded.items():
        if key not in node:
            unknown.append(prefix + str(key))
        elif isinstance(node[key], CfgNode) and isinstance(value, dict):
            unknown.extend(_unknown_keys(node[key], value, prefix + key + "."))
    return unknown


def _all_keys(node: CfgNode, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        keys.append(prefix + key)
        if isinstance(value, CfgNode):
            keys.extend(_all_keys(value, prefix + key + "."))
    return keys


def _unknown_key_message(root: CfgNode, unknown: list[str], source: str) -> str:
    known = _all_keys(root)
    lines = [f"{source}: unknown config key(s):"]
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        lines.append(f"  {key}{hint}")
    lines.append("Fix the key names; every key and its default is listed in maskformer/config/defaults.py.")
    return "\n".join(lines)


def _coerce(value: Any, default: Any, full_key: str, source: str) -> Any:
    """Checks ``value`` against the type of the current value ``default``; returns the value to store."""
    if value is None or default is None or type(value) is type(default):
        return value
    if isinstance(default, float) and type(value) is int:
        return float(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    raise ConfigError(
        f"{source}: '{full_key}' expects a {type(default).__name__} (like its default {default!r}), "
        f"got {type(value).__name__} {value!r}."
    )


def _to_dict(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _to_dict(v) for k, v in node.items()}
    return copy.deepcopy(node)


def _resolve_base(base: Any, including: str) -> str:
    if not isinstance(base, str):
        raise ConfigError(f"{including}: {BASE_KEY} must be a path or a list of paths, got {base!r}")
    base = os.path.expanduser(base)
    if os.path.isabs(base) or "://" in base:
        return base
    return os.path.join(os.path.dirname(including), base)


def _merge_plain(child: dict[str, Any], base: dict[str, Any]) -> None:
    """Merges dict ``child`` into ``base`` in place; child values win, sub-dicts merge."""
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_plain(value, base[key])
        else:
            base[key] = value


def _load_chain(filename: str, stack: tuple[str, ...]) -> dict[str, Any]:
    """One file merged over its ``_BASE_`` chain (bases in list order, then the file itself)."""
    real = os.path.realpath(filename) if "://" not in filename else filename
    if real in stack:
        raise ConfigError(f"{filename}: {BASE_KEY} cycle: {' -> '.join(stack + (real,))}")
    if "://" not in filename and not os.path.isfile(filename):
        where = f" (a {BASE_KEY} of {stack[-1]})" if stack else ""
        raise ConfigError(f"Config file not found: {filename}{where}. Check the path.")
    data = load_yaml(filename)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    merged: dict[str, Any] = {}
    for base in bases if isinstance(bases, list) else [bases]:
        _merge_plain(_load_chain(_resolve_base(base, filename), stack + (real,)), merged)
    _merge_plain(data, merged)
    return merged


def _log_era(filename: str, era: dict[str, Any]) -> None:
    logging.getLogger(__name__).info(
        "%s is a MaskFormer-repository config (standard decoder, single-scale input): using %s.",
        filename,
        ", ".join(f"{k}={v!r}" for k, v in era.items()),
    )


def get_cfg() -> CfgNode:
    """A fresh, mutable copy of the default config tree (``defaults.py``)."""
    from .defaults import _C

    return _C.clone()


def load_config(config_file: str, opts: Sequence[Any] = (), freeze: bool = True) -> CfgNode:
    """The default tree merged with ``config_file`` (and its ``_BASE_`` chain), then ``opts``.

    What every tool does with ``--config-file FILE KEY VALUE ...``.

    Args:
        config_file: a YAML config.
        opts: ``KEY VALUE`` overrides, flat (``["SOLVER.MAX_ITER", "10", ...]``).
        freeze: return the config frozen; pass False to adjust keys afterwards.
    """
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if freeze:
        cfg.freeze()
    return cfg
