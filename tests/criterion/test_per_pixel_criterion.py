"""PerPixelCrossEntropy: the per-pixel baselines' loss as a criterion, exact on a hand-made case."""

import math

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import CRITERION_REGISTRY, PerPixelCrossEntropy, SetCriterion, build_criterion


def test_exact_weighted_losses_with_auxiliary_logits():
    # K = 2 classes, 1x1 logits at stride 2 -> constant 2x2 maps; one pixel is unlabelled.
    final = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)  # p = [1/4, 3/4]
    aux = torch.zeros(1, 2, 1, 1)  # p = [1/2, 1/2]
    targets = torch.tensor([[[1, 1], [0, 7]]])  # 7 = ignore_value
    criterion = PerPixelCrossEntropy(loss_weight=2.0, ignore_value=7, common_stride=2)
    losses = criterion({"sem_seg_logits": final, "aux_sem_seg_logits": [aux]}, targets)
    assert set(losses) == {"loss_sem_seg", "loss_sem_seg_0"}
    # Mean over the 3 labelled pixels: two of class 1 (-log 3/4), one of class 0 (-log 1/4); x 2.
    expected = 2.0 * (2 * -math.log(0.75) - math.log(0.25)) / 3
    assert losses["loss_sem_seg"].item() == pytest.approx(expected, rel=1e-6)
    assert losses["loss_sem_seg_0"].item() == pytest.approx(2.0 * math.log(2.0), rel=1e-6)


def test_built_from_the_head_keys():
    cfg = get_cfg()
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = 0.5, 100
    cfg.MODEL.SEM_SEG_HEAD.COMMON_STRIDE = 8
    criterion = build_criterion(cfg)
    assert type(criterion) is PerPixelCrossEntropy
    assert (criterion.loss_weight, criterion.ignore_value, criterion.common_stride) == (0.5, 100, 8)


def test_criterion_name_default_and_override():
    cfg = get_cfg()
    assert cfg.MODEL.CRITERION.NAME == ""
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    assert type(build_criterion(cfg)) is SetCriterion
    cfg.MODEL.CRITERION.NAME = "PerPixelCrossEntropy"  # an explicit name wins over the default
    assert type(build_criterion(cfg)) is PerPixelCrossEntropy
    assert set(CRITERION_REGISTRY.keys()) >= {"SetCriterion", "PerPixelCrossEntropy"}
    cfg.MODEL.CRITERION.NAME = "PerPixelCE"
    with pytest.raises(KeyError, match="MODEL.CRITERION.NAME.*PerPixelCrossEntropy"):
        build_criterion(cfg)
