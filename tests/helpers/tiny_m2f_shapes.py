"""A tiny shapes Mask2Former with saved random weights, shared by the Predictor, visualizer and demo tests."""

from __future__ import annotations

from pathlib import Path

import torch

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, register_builtin_datasets, register_shapes
from maskformer.data.datasets.shapes import ShapesSpec
from maskformer.modeling import build_model
from tests.helpers.paths import CONFIGS

CONFIG = CONFIGS / "shapes" / "panoptic-segmentation" / "maskformer2_R18_shapes.yaml"

# Same kind of model as the config (R18, MSDeformAttn pixel decoder, masked-attention decoder), smaller.
TINY_OPTS = [
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", "32",
    "MODEL.SEM_SEG_HEAD.MASK_DIM", "32",
    "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "1",
    "MODEL.MASK_FORMER.HIDDEN_DIM", "32",
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "8",
    "MODEL.MASK_FORMER.NHEADS", "4",
    "MODEL.MASK_FORMER.DIM_FEEDFORWARD", "64",
    "MODEL.MASK_FORMER.DEC_LAYERS", "3",
    # Random weights score low: keep every query so that panoptic and instance results are not empty.
    "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD", "0.0",
    "INPUT.MIN_SIZE_TEST", "64",
    "INPUT.MAX_SIZE_TEST", "128",
]  # fmt: skip


SPEC = ShapesSpec(image_size=64, num_train=2, num_val=3, seed=5)
PREFIX = "predictorshapes"


def register_tiny_shapes(root: Path) -> str:
    """Registers a tiny generated shapes dataset (once per session); returns its val panoptic split."""
    if f"{PREFIX}_val_panoptic" not in DatasetCatalog:
        register_shapes(str(root), SPEC, prefix=PREFIX)
    return f"{PREFIX}_val_panoptic"


def tiny_cfg(weights: str = "", opts: list[str] = ()):
    """The tiny model's config (builtin datasets registered: ``shapes_val_panoptic`` gives the classes)."""
    register_builtin_datasets()
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    cfg.merge_from_list(TINY_OPTS + ["MODEL.WEIGHTS", weights, *opts])
    return cfg


def save_tiny_weights(path: Path, seed: int = 0) -> str:
    """Writes randomly initialised weights of the tiny model to ``path``; returns the path."""
    torch.manual_seed(seed)
    model = build_model(tiny_cfg())
    torch.save({"model": model.state_dict()}, path)
    return str(path)
