"""defaults.py holds the live keys; compat.add_compat_config adds the no-effect ones, which warn once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from maskformer.config import CfgNode, compat, get_cfg
from tests.helpers.config_keys import flatten
from tests.helpers.paths import FIXTURES

# The flattened default config of the commit before the compatibility keys moved to compat.py.
BEFORE = FIXTURES / "config" / "defaults_before_issue17.json"


def _compat_keys() -> dict:
    node = CfgNode()
    compat.add_compat_config(node)
    return flatten(node, tuples_as_lists=False)


def test_default_config_keeps_every_key_and_value():
    before = json.loads(BEFORE.read_text())
    now = flatten(get_cfg())
    assert len(before) == 293
    assert {k: now.get(k, "<missing>") for k in before} == before
    assert all(type(now[k]) is type(v) for k, v in before.items())


def test_compat_keys_are_exactly_the_no_effect_keys():
    compat_keys = _compat_keys()
    everything = flatten(get_cfg(), tuples_as_lists=False)
    assert len(compat_keys) == 122
    assert {k: everything[k] for k in compat_keys} == compat_keys  # added with these defaults
    assert [k for k in compat_keys if compat.no_effect_reason(k) is None] == []
    live = [k for k in everything if k not in compat_keys]
    assert [k for k in live if compat.no_effect_reason(k) is not None] == []
    for entry in compat.NO_EFFECT_KEYS:  # every listed key or section exists
        assert any(k == entry or k.startswith(entry + ".") for k in compat_keys), entry
    defaults_py = (Path(compat.__file__).parent / "defaults.py").read_text()
    assert "_C.MODEL.RPN" not in defaults_py and "_C.VIS_PERIOD" not in defaults_py


def _other_value(value):
    """A value of the same type as ``value`` that differs from it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return [] if value else [1]


def test_every_no_effect_key_warns_once_when_overridden(caplog, monkeypatch):
    monkeypatch.setattr(compat, "_logged", set())
    compat_keys = _compat_keys()
    overrides = [x for key, value in compat_keys.items() for x in (key, repr(_other_value(value)))]
    with caplog.at_level(logging.WARNING, logger="maskformer.config.compat"):
        get_cfg().merge_from_list(overrides)
        get_cfg().merge_from_list(overrides)  # once per key and process
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(compat_keys)
    for key, message in zip(compat_keys, messages):
        assert f" {key} = " in message and "no effect" in message


@pytest.mark.parametrize("value,warned", [("0", False), ("20", True)])
def test_vis_period_in_a_file_warns_only_when_changed(tmp_path, caplog, monkeypatch, value, warned):
    monkeypatch.setattr(compat, "_logged", set())
    path = tmp_path / "c.yaml"
    path.write_text(f"VIS_PERIOD: {value}\nSOLVER:\n  MAX_ITER: 5\n")
    with caplog.at_level(logging.WARNING, logger="maskformer.config.compat"):
        get_cfg().merge_from_file(str(path))
    assert [r.getMessage() for r in caplog.records] == (
        [f"{path} sets VIS_PERIOD = 20, which has no effect here ({compat.NO_EFFECT_KEYS['VIS_PERIOD']})."]
        if warned
        else []
    )
