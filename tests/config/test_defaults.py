"""The default tree: every official key exists, defaults are the code defaults, every key is commented."""

from __future__ import annotations

import re

import pytest
import yaml

from maskformer.config import get_cfg
from tests.helpers.config_keys import flatten
from tests.helpers.paths import REFERENCE, REPO

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULTS_PY = REPO / "maskformer" / "config" / "defaults.py"


def test_every_official_key_exists():
    ours = set(flatten(get_cfg()))
    files = sorted(REFERENCE.glob("cfg_*.yaml")) + sorted(REFERENCE.glob("official_resolved/**/*.yaml"))
    assert len(files) == 99
    for path in files:
        missing = set(flatten(yaml.load(path.read_text(), Loader=_LOADER))) - ours
        assert not missing, f"{path}: {sorted(missing)}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # Detectron2 defaults (not the values the official base YAMLs set).
        ("MODEL.BACKBONE.FREEZE_AT", 2),
        ("MODEL.META_ARCHITECTURE", "GeneralizedRCNN"),
        ("MODEL.PIXEL_MEAN", [103.530, 116.280, 123.675]),
        ("MODEL.PIXEL_STD", [1.0, 1.0, 1.0]),
        ("MODEL.RESNETS.STRIDE_IN_1X1", True),
        ("MODEL.RESNETS.OUT_FEATURES", ["res4"]),
        ("INPUT.FORMAT", "BGR"),
        ("SOLVER.BASE_LR", 0.001),
        ("SOLVER.WARMUP_FACTOR", 0.001),
        ("SOLVER.CLIP_GRADIENTS.ENABLED", False),
        ("SOLVER.WEIGHT_DECAY_BIAS", None),
        ("MODEL.SEM_SEG_HEAD.NUM_CLASSES", 54),
        ("TEST.DETECTIONS_PER_IMAGE", 100),
        # add_deeplab_config
        ("MODEL.RESNETS.STEM_TYPE", "deeplab"),
        ("MODEL.RESNETS.RES5_MULTI_GRID", [1, 2, 4]),
        ("SOLVER.POLY_LR_POWER", 0.9),
        # Mask2Former code defaults (shipped configs use 2/5/5 and 10 layers)
        ("MODEL.MASK_FORMER.CLASS_WEIGHT", 1.0),
        ("MODEL.MASK_FORMER.MASK_WEIGHT", 20.0),
        ("MODEL.MASK_FORMER.DICE_WEIGHT", 1.0),
        ("MODEL.MASK_FORMER.DEC_LAYERS", 6),
        ("MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME", "MultiScaleMaskedTransformerDecoder"),
        ("MODEL.MASK_FORMER.TRAIN_NUM_POINTS", 12544),
        ("MODEL.MASK_FORMER.SIZE_DIVISIBILITY", 32),
        ("MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME", "BasePixelDecoder"),
        ("MODEL.SWIN.DROP_PATH_RATE", 0.3),
        # project keys
        ("MODEL.MASK_FORMER.MASK_LOSS", "sigmoid_ce"),
        ("MODEL.MASK_FORMER.MATCHER", "HungarianMatcher"),
        ("MODEL.MASK_FORMER.FOCAL_ALPHA", 0.25),
        ("MODEL.MASK_FORMER.FOCAL_GAMMA", 2.0),
        ("MODEL.MASK_FORMER.TEST.INSTANCE_SCORE_THRESH", 0.0),
        ("MODEL.TIMM.NAME", ""),
        ("MODEL.TIMM.OUT_INDICES", [1, 2, 3, 4]),
        ("MODEL.TIMM.PRETRAINED", False),
        ("SOLVER.AMP.PRECISION", "float16"),
    ],
)
def test_default_values(key: str, value):
    got = flatten(get_cfg(), tuples_as_lists=False)[key]
    assert got == value and type(got) is type(value)


def test_every_key_is_commented():
    """Each block of assignments in defaults.py (lines between blank lines) carries a comment."""
    blocks = DEFAULTS_PY.read_text().split("\n\n")
    assignment = re.compile(r"^_C\.[A-Z0-9_.]+ = (?!CN\(\))", re.M)
    uncommented = [b for b in blocks if assignment.search(b) and "#" not in b]
    assert not uncommented, uncommented
    # No section holds more than 8 consecutive uncommented assignments.
    run = 0
    for line in DEFAULTS_PY.read_text().splitlines():
        run = run + 1 if assignment.match(line) else 0
        assert run <= 8, line
