"""Fixtures of the data tests: a config training on the tiny shapes dataset (``shapes_root``)."""

from __future__ import annotations

import pytest

from maskformer.config import get_cfg
from tests.helpers.tiny_shapes import TINY_PREFIX


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
