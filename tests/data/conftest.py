"""Shared fixtures of the data tests: a tiny generated shapes dataset and the raw-layout writers."""

from __future__ import annotations

import os

import pytest

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, MetadataCatalog, register_shapes
from maskformer.data.datasets.shapes import ensure_shapes_dataset
from tests.helpers.tiny_shapes import TINY_PREFIX, TINY_SHAPES


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory) -> str:
    """A tiny shapes dataset, generated once and registered as ``tinyshapes_{train,val}_*``."""
    root = str(tmp_path_factory.mktemp("datasets"))
    ensure_shapes_dataset(root, TINY_SHAPES)
    if f"{TINY_PREFIX}_train_panoptic" in DatasetCatalog:
        for name in DatasetCatalog.list():
            if name.startswith(TINY_PREFIX):
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)
    register_shapes(root, TINY_SHAPES, prefix=TINY_PREFIX)
    return os.path.join(root, TINY_SHAPES.dirname)


@pytest.fixture
def data_cfg(shapes_root):
    """A config training on the tiny shapes panoptic split with small images."""
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = (f"{TINY_PREFIX}_train_panoptic",)
    cfg.DATASETS.TEST = (f"{TINY_PREFIX}_val_panoptic",)
    cfg.INPUT.DATASET_MAPPER_NAME = "mask_former_panoptic"
    cfg.INPUT.MIN_SIZE_TRAIN = [48, 64, 80]
    cfg.INPUT.MAX_SIZE_TRAIN = 128
    cfg.INPUT.MIN_SIZE_TEST = 64
    cfg.INPUT.MAX_SIZE_TEST = 128
    cfg.INPUT.IMAGE_SIZE = 64
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 7
    return cfg
