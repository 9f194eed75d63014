"""Which files of configs/ are complete configs, and a fast way to build their models for counting.

The rule: a file is a *fragment* (a building block other files name in ``_BASE_``, never run on its
own) when it lies under ``configs/common/`` or its name starts with ``Base-``; every other YAML file is
a *leaf* a user runs. ``test_config_builds.py`` checks that the rule leaves out nothing runnable.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path

import torch
import yaml
from torch import nn

from maskformer.config import get_cfg
from maskformer.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, build_model
from maskformer.utils.analysis import skip_weight_init
from tests.helpers.paths import CONFIGS

# ResNet blocks per stage (res2..res5) for MODEL.RESNETS.DEPTH, as in Detectron2.
RESNET_STAGE_BLOCKS = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def is_fragment(path: Path) -> bool:
    """True for files under ``configs/common/`` and ``Base-*.yaml`` files."""
    rel = path.relative_to(CONFIGS)
    return rel.parts[0] == "common" or path.name.startswith("Base-")


def all_configs() -> list[Path]:
    return sorted(CONFIGS.rglob("*.yaml"))


def leaf_configs() -> list[Path]:
    return [p for p in all_configs() if not is_fragment(p)]


def fragment_configs() -> list[Path]:
    return [p for p in all_configs() if is_fragment(p)]


def rel(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


@functools.cache
def base_files(path: Path) -> tuple[Path, ...]:
    """The files ``path`` names in ``_BASE_`` (one path or a list), resolved against its folder."""
    data = yaml.safe_load(path.read_text()) or {}
    bases = data.get("_BASE_", [])
    bases = [bases] if isinstance(bases, str) else bases
    return tuple((path.parent / b).resolve() for b in bases)


def load_cfg(path: Path):
    """``get_cfg()`` + the file, on CPU."""
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def is_complete(cfg) -> bool:
    """A config a user can train: a registered meta-architecture and a training dataset."""
    return cfg.MODEL.META_ARCHITECTURE in META_ARCH_REGISTRY and len(cfg.DATASETS.TRAIN) > 0


def backbone_class(name: str) -> type:
    """The class ``MODEL.BACKBONE.NAME`` builds: the registered class, or the builder's return type."""
    entry = BACKBONE_REGISTRY.get(name)
    if isinstance(entry, type):
        return entry
    return typing.get_type_hints(entry)["return"]


def build_for_counting(cfg) -> nn.Module:
    """The model of ``cfg`` with its real structure and uninitialised values (fast for Swin-L).

    Random initialisers are skipped (``skip_weight_init``): the parameters' names, shapes and count
    are those of the real model; their values are meaningless, so the model must not be run.
    The meta device would be the usual tool, but ``D2SwinTransformer.__init__`` calls ``.tolist()`` on
    a tensor (``torch.linspace`` for the drop-path rates), which fails there, and on CPU skipping the
    initialisers is faster than the meta device's dispatch overhead (about 0.05 s vs 0.3 s per R50
    model).
    """
    with skip_weight_init():
        return build_model(cfg)


def build_on_meta(cfg) -> nn.Module:
    """The model of ``cfg`` on the meta device (no memory, no values); ``cfg`` is left unchanged."""
    cfg = cfg.clone()
    cfg.MODEL.DEVICE = "meta"
    with torch.device("meta"):
        return build_model(cfg)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
