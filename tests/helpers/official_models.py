"""The official models' parameter names and shapes (``tests/fixtures/reference/keys_*.txt``) and our
models built from the same official configs (``cfg_*.yaml``)."""

import re
from pathlib import Path

from torch import nn

from maskformer.config import get_cfg
from maskformer.data import register_builtin_datasets
from maskformer.modeling import build_model
from tests.helpers.paths import REFERENCE


def read_keys(path: Path) -> dict[str, tuple[int, ...]]:
    """A keys file, one ``name (d0, d1, ...)`` per line, as ``{name: shape}``."""
    out = {}
    for line in path.read_text().splitlines():
        name, shape = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip()).groups()
        out[name] = tuple(int(d) for d in shape.split(",") if d.strip())
    return out


def official_keys(name: str) -> dict[str, tuple[int, ...]]:
    """The state dict names and shapes of the official model ``name`` (``keys_<name>.txt``)."""
    return read_keys(REFERENCE / f"keys_{name}.txt")


def build_official(name: str) -> nn.Module:
    """Our model built on CPU from the official config ``cfg_<name>.yaml``, loaded unchanged."""
    cfg = get_cfg()
    cfg.merge_from_file(str(REFERENCE / f"cfg_{name}.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    register_builtin_datasets()  # the thing ids of the config's DATASETS
    return build_model(cfg)
