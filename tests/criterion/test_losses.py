"""Mask losses: hand-computed values, and the pairwise form agreeing with the per-match form."""

import math

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import (
    SigmoidCELoss,
    SigmoidFocalLoss,
    build_mask_loss,
    dice_loss,
    pairwise_dice_loss,
    pairwise_sigmoid_ce_loss,
    pairwise_sigmoid_focal_loss,
    sigmoid_ce_loss,
    sigmoid_focal_loss,
)

LN2 = math.log(2.0)


def test_sigmoid_ce_hand_values():
    # logit 0 -> BCE = ln 2 whatever the target; logit 2 vs target 1 -> ln(1 + e^-2).
    inputs = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    expected = (LN2 + (math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2) / 4
    assert sigmoid_ce_loss(inputs, targets, num_masks=4).item() == pytest.approx(expected, rel=1e-6)


def test_sigmoid_focal_hand_values():
    # p = 0.5: positive pixel 0.25 * 0.5^2 * ln2, negative pixel 0.75 * 0.5^2 * ln2.
    inputs = torch.zeros(1, 2)
    targets = torch.tensor([[1.0, 0.0]])
    expected = (0.25 * 0.25 * LN2 + 0.75 * 0.25 * LN2) / 2
    assert sigmoid_focal_loss(inputs, targets, 1.0).item() == pytest.approx(expected, rel=1e-6)
    # alpha < 0 disables the class balancing.
    no_alpha = sigmoid_focal_loss(inputs, targets, 1.0, alpha=-1.0).item()
    assert no_alpha == pytest.approx(0.25 * LN2, rel=1e-6)


def test_dice_hand_values():
    # p = 0.5 everywhere, target [1, 0]: 1 - (2 * 0.5 + 1) / (1 + 1 + 1) = 1/3.
    assert dice_loss(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), 1.0).item() == pytest.approx(1 / 3)
    # A perfect prediction has zero loss thanks to the +1 smoothing on both sides.
    perfect = dice_loss(torch.tensor([[100.0, -100.0]]), torch.tensor([[1.0, 0.0]]), 1.0)
    assert perfect.item() == pytest.approx(0.0, abs=1e-6)
    # Empty target and empty prediction: also zero, not NaN.
    assert dice_loss(torch.full((1, 3), -100.0), torch.zeros(1, 3), 1.0).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_num_masks_normalisation():
    inputs, targets = torch.randn(3, 5), (torch.rand(3, 5) > 0.5).float()
    for fn in (sigmoid_ce_loss, sigmoid_focal_loss, dice_loss):
        assert fn(inputs, targets, 2.0).item() == pytest.approx(fn(inputs, targets, 1.0).item() / 2, rel=1e-6)


@pytest.mark.parametrize(
    "per_match, pairwise",
    [
        (sigmoid_ce_loss, pairwise_sigmoid_ce_loss),
        (sigmoid_focal_loss, pairwise_sigmoid_focal_loss),
        (
            lambda x, t, n: sigmoid_focal_loss(x, t, n, alpha=0.6, gamma=1.5),
            lambda x, t: pairwise_sigmoid_focal_loss(x, t, alpha=0.6, gamma=1.5),
        ),
        (dice_loss, pairwise_dice_loss),
    ],
)
def test_pairwise_equals_per_match(per_match, pairwise):
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, 11, generator=gen) * 3
    targets = (torch.rand(3, 11, generator=gen) > 0.5).float()
    cost = pairwise(inputs, targets)
    assert cost.shape == (4, 3)
    for q in range(4):
        for n in range(3):
            expected = per_match(inputs[q : q + 1], targets[n : n + 1], 1.0)
            assert cost[q, n].item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    # Diagonal: the per-match form summed over matched pairs.
    diag_sum = cost[:3, :3].diagonal().sum()
    torch.testing.assert_close(diag_sum / 3, per_match(inputs[:3], targets, 3.0))


def test_mask_loss_objects_and_registry():
    inputs, targets = torch.randn(2, 6), (torch.rand(2, 6) > 0.5).float()
    ce = build_mask_loss("sigmoid_ce")
    assert isinstance(ce, SigmoidCELoss)
    torch.testing.assert_close(ce.loss(inputs, targets, 2.0), sigmoid_ce_loss(inputs, targets, 2.0))
    focal = SigmoidFocalLoss(alpha=0.5, gamma=1.0)
    assert build_mask_loss(focal) is focal
    torch.testing.assert_close(
        focal.pairwise(inputs, targets), pairwise_sigmoid_focal_loss(inputs, targets, 0.5, 1.0)
    )


def test_mask_loss_from_config():
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.MASK_LOSS = "sigmoid_focal"
    cfg.MODEL.MASK_FORMER.FOCAL_ALPHA = 0.3
    cfg.MODEL.MASK_FORMER.FOCAL_GAMMA = 1.0
    loss = build_mask_loss(cfg.MODEL.MASK_FORMER.MASK_LOSS, cfg)
    assert (loss.alpha, loss.gamma) == (0.3, 1.0)


def test_unknown_mask_loss_names_the_key():
    with pytest.raises(KeyError, match="MASK_LOSS.*sigmoid_foca"):
        build_mask_loss("sigmoid_foca")
