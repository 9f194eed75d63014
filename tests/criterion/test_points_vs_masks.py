"""Mask2Former Table 5: matching costs and mask losses on points or on full masks, chosen independently."""

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import SetCriterion


def _cfg(matching_on_points: bool, loss_on_points: bool, num_points: int = 16):
    cfg = get_cfg()
    mf = cfg.MODEL.MASK_FORMER
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 3
    mf.TRAIN_NUM_POINTS, mf.DEC_LAYERS, mf.DEEP_SUPERVISION = num_points, 1, False
    mf.MATCHING_ON_POINTS, mf.LOSS_ON_POINTS = matching_on_points, loss_on_points
    return cfg


@pytest.mark.parametrize("matching", [True, False])
@pytest.mark.parametrize("loss", [True, False])
def test_each_choice_reaches_its_stage(matching, loss):
    criterion = SetCriterion(_cfg(matching, loss))
    assert criterion.matcher.num_points == (16 if matching else 0)
    assert criterion.num_points == (16 if loss else 0)


def test_zero_points_means_full_masks_for_both():
    criterion = SetCriterion(_cfg(True, True, num_points=0))
    assert criterion.matcher.num_points == 0 and criterion.num_points == 0


def test_mask_loss_on_full_masks_equals_the_maskformer_criterion():
    torch.manual_seed(0)
    outputs = {"pred_logits": torch.randn(1, 4, 4), "pred_masks": torch.randn(1, 4, 8, 8)}
    masks = torch.zeros(2, 16, 16)
    masks[0, :8], masks[1, 8:] = 1, 1
    targets = [{"labels": torch.tensor([0, 2]), "masks": masks}]
    ablation = SetCriterion(_cfg(matching_on_points=False, loss_on_points=False))(outputs, targets)
    full = SetCriterion(_cfg(True, True, num_points=0))(outputs, targets)
    for key in ("loss_ce", "loss_mask", "loss_dice"):
        torch.testing.assert_close(ablation[key], full[key])
