"""A target whose mask a crop emptied is still a target: it is matched and counted in num_masks."""

import math

import pytest
import torch

from maskformer.criterion import HungarianMatcher, SetCriterion, make_weight_dict

LN2, LN3 = math.log(2.0), math.log(3.0)


def _case():
    """Two queries, K = 2; targets: class 1 with one pixel, class 0 with an empty mask."""
    logits = torch.tensor([[[0.0, 0.0, 0.0], [0.0, LN2, 0.0]]])  # softmax q1 = [1/4, 1/2, 1/4]
    masks = torch.zeros(1, 2, 2, 2)  # sigmoid = 0.5 everywhere
    target_masks = torch.zeros(2, 2, 2, dtype=torch.bool)
    target_masks[0, 0, 0] = True
    targets = [{"labels": torch.tensor([1, 0]), "masks": target_masks}]
    return {"pred_logits": logits, "pred_masks": masks}, targets


def _criterion(num_points=0):
    return SetCriterion(
        num_classes=2,
        matcher=HungarianMatcher(2.0, 5.0, 5.0, num_points=num_points),
        weight_dict=make_weight_dict(2.0, 5.0, 5.0, True, 0),
        eos_coef=0.1,
        num_points=num_points,
    )


def test_empty_target_is_matched_and_normalises_the_mask_losses():
    outputs, targets = _case()
    criterion = _criterion()
    ((src, tgt),) = criterion.matcher(outputs, targets)
    assert sorted(zip(src.tolist(), tgt.tolist())) == [(0, 1), (1, 0)]  # the empty target gets query 0
    assert criterion.num_target_masks(targets, torch.device("cpu")) == 2.0
    losses = criterion(outputs, targets)
    assert losses["loss_ce"].item() == pytest.approx(2.0 * (LN3 + LN2) / 2, rel=1e-6)
    assert losses["loss_mask"].item() == pytest.approx(5.0 * (LN2 + LN2) / 2, rel=1e-6)
    # Dice: 1 - (2 * 0.5 + 1) / (2 + 1 + 1) = 1/2 for the pixel, 1 - 1 / (2 + 0 + 1) = 2/3 for the empty one.
    assert losses["loss_dice"].item() == pytest.approx(5.0 * (0.5 + 2 / 3) / 2, rel=1e-6)


def test_empty_target_with_point_sampling_gives_finite_losses():
    outputs, targets = _case()
    losses = _criterion(num_points=3)(outputs, targets, generator=torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in losses.values())
