"""A datasets root holding a tiny copy of every built-in dataset, for running the official recipes.

:func:`write_recipe_root` writes each dataset's raw release layout (``layouts``) for the train and
val splits, runs the ``datasets/prepare_*.py`` conversions a user runs, and completes the category
tables to those of the real releases (a random model predicts any class, and the evaluators look
each one up in the ground-truth JSON). :func:`recipe_catalog` registers the built-in splits under
that root, with the synthetic shapes splits at the tiny test size.
"""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import pytest

from maskformer.data import DatasetCatalog, MetadataCatalog, register_builtin_datasets, register_shapes
from maskformer.data.datasets.metadata import load_categories
from tests.helpers.layouts import (
    write_ade20k_full_raw,
    write_ade20k_raw,
    write_cityscapes,
    write_coco,
    write_coco_stuff_10k_raw,
    write_mapillary_vistas,
)
from tests.helpers.paths import REPO
from tests.helpers.tiny_shapes import TINY_SHAPES

DATASETS_DIR = REPO / "datasets"


def load_prepare_script(name: str) -> ModuleType:
    """The module ``datasets/<name>.py`` (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, DATASETS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _set_categories(json_file: str, table: str, keys: tuple[str, ...]) -> None:
    """Replaces the ``categories`` of a COCO-style JSON by the full table ``table``."""
    with open(json_file) as f:
        data = json.load(f)
    data["categories"] = [{k: c[k] for k in keys if k in c} for c in load_categories(table)]
    with open(json_file, "w") as f:
        json.dump(data, f)


def _write_coco(root: str) -> None:
    for split in ("train2017", "val2017"):
        paths = write_coco(root, split)
        _set_categories(paths["instances_json"], "coco_instance", ("id", "name", "supercategory"))
        _set_categories(paths["panoptic_json"], "coco_panoptic", ("id", "name", "isthing", "color"))
    load_prepare_script("prepare_coco_semantic_from_panoptic").convert(root, ("train2017", "val2017"))
    write_coco_stuff_10k_raw(root)
    load_prepare_script("prepare_coco_stuff_10k_sem_seg").convert(root)


def _write_ade20k(root: str) -> None:
    write_ade20k_raw(root, "training", 1)
    write_ade20k_raw(root, "validation", 2)
    load_prepare_script("prepare_ade20k_sem_seg").convert(root)
    pan_ins = load_prepare_script("prepare_ade20k_pan_ins_seg")
    for split in ("train", "val"):
        pan_ins.convert_split(root, split)
    write_ade20k_full_raw(root)
    load_prepare_script("prepare_ade20k_full_sem_seg").convert(root)


def write_recipe_root(root: str) -> str:
    """Writes and prepares every built-in dataset (train and val splits) under ``root``; returns it."""
    _write_coco(root)
    _write_ade20k(root)
    for split in ("train", "val"):
        write_cityscapes(root, split, scale=4)
    for split in ("training", "validation"):
        write_mapillary_vistas(root, split)
    return root


def recipe_catalog(root: str) -> tuple[dict, dict]:
    """The dataset and metadata catalogs with the built-in splits registered under ``root``.

    The process-wide catalogs are left as they were: the returned ``(loaders, metadata)`` dicts are
    swapped in by :func:`use_catalog` for the tests that need them. The ``shapes_*`` splits use the
    tiny shapes spec of the data tests instead of the 2100-image default.
    """
    with pytest.MonkeyPatch.context() as mp:
        loaders: dict = {}
        metadata: dict = {}
        mp.setattr(DatasetCatalog, "_entries", loaders)
        mp.setattr(MetadataCatalog, "_entries", metadata)
        register_builtin_datasets(root)
        for name in DatasetCatalog.list():
            if name.startswith("shapes_"):
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)
        register_shapes(root, TINY_SHAPES, prefix="shapes")
    return loaders, metadata


def use_catalog(mp: pytest.MonkeyPatch, catalog: tuple[dict, dict]) -> None:
    """Makes ``catalog`` (from :func:`recipe_catalog`) the process-wide catalogs until ``mp`` undoes it."""
    loaders, metadata = catalog
    mp.setattr(DatasetCatalog, "_entries", loaders)
    mp.setattr(MetadataCatalog, "_entries", metadata)
