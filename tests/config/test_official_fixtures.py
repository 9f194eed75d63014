"""Official YAML files (tests/fixtures/configs, written as the official repositories ship them) load
with get_cfg() to exactly the configs the official code resolves (tests/fixtures/reference/cfg_*.yaml).

The reference configs were resolved with two command-line overrides, applied here as well:
MODEL.DEVICE cpu and MODEL.WEIGHTS "".
"""

from __future__ import annotations

import logging

import pytest
import yaml

from maskformer.config import get_cfg
from tests.helpers.config_keys import flatten
from tests.helpers.paths import FIXTURES, REFERENCE

CONFIG_FIXTURES = FIXTURES / "configs"

CASES = {
    "m2f_R50_coco_panoptic": "mask2former/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "m2f_R50_coco_instance": "mask2former/coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "m2f_R50_ade20k_semantic": "mask2former/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml",
    "m2f_swinT_coco_panoptic": (
        "mask2former/coco/panoptic-segmentation/swin/maskformer2_swin_tiny_bs16_50ep.yaml"
    ),
    "mf_R50_ade20k_semantic": "maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml",
    "mf_R50_coco_panoptic": "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml",
}


def _load(rel: str):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG_FIXTURES / rel))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    return cfg


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_resolves_to_reference(name: str):
    expected = flatten(yaml.safe_load((REFERENCE / f"cfg_{name}.yaml").read_text()))
    got = flatten(_load(CASES[name]))
    missing = sorted(set(expected) - set(got))
    assert not missing, f"keys of the official config missing from ours: {missing}"
    diffs = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not diffs, f"(ours, official): {diffs}"


def test_eval_tag_scale_list():
    cfg = _load(CASES["m2f_R50_ade20k_semantic"])
    assert cfg.INPUT.MIN_SIZE_TRAIN == [int(x * 0.1 * 512) for x in range(5, 21)]
    assert cfg.INPUT.CROP.SIZE == [512, 512]  # written as the string "(512, 512)"


def test_repeated_in_features_only_warns(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = _load(CASES["m2f_R50_coco_panoptic"])
    assert cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES == ["res2", "res3", "res4", "res5"]
    assert any("IN_FEATURES" in r.getMessage() and "twice" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", ["mf_R50_ade20k_semantic", "mf_R50_coco_panoptic"])
def test_maskformer_repository_files_get_maskformer_behaviour(name: str):
    cfg = _load(CASES[name])
    assert cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME == "StandardTransformerDecoder"
    assert cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS == 0
    assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_focal"


@pytest.mark.parametrize("name", sorted(k for k in CASES if k.startswith("m2f")))
def test_mask2former_files_keep_mask2former_behaviour(name: str):
    cfg = _load(CASES[name])
    assert cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME == "MultiScaleMaskedTransformerDecoder"
    assert cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS == 12544
    assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_ce"
