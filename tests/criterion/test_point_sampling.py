"""Point sampling: bilinear reads at normalised points, importance sampling by uncertainty."""

import pytest
import torch

from maskformer.criterion import (
    HungarianMatcher,
    SetCriterion,
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    make_weight_dict,
    point_sample,
)
from maskformer.criterion import matcher as matcher_module
from maskformer.criterion import set_criterion as criterion_module


def test_point_sample_reads_pixel_centres_and_interpolates():
    image = torch.arange(12.0).view(1, 1, 3, 4)
    centres = torch.tensor([[[(j + 0.5) / 4, (i + 0.5) / 3] for i in range(3) for j in range(4)]])
    torch.testing.assert_close(point_sample(image, centres).view(12), torch.arange(12.0))
    # Half-way between the centres of (0, 0) and (0, 1) in x: the mean of 0 and 1.
    mid = point_sample(image, torch.tensor([[[1.0 / 4, 0.5 / 3]]]))
    assert mid.item() == pytest.approx(0.5)


def test_point_sample_grid_shape():
    out = point_sample(torch.randn(2, 3, 5, 5), torch.rand(2, 4, 6, 2))
    assert out.shape == (2, 3, 4, 6)


def test_uncertainty_is_minus_abs_logit():
    assert calculate_uncertainty(torch.tensor([-3.0, 0.0, 2.0])).tolist() == [-3.0, 0.0, -2.0]


def test_importance_sampling_picks_the_most_uncertain_region():
    # Confident logits (10) everywhere except an uncertain centre block (0) of an 16 x 16 map.
    logits = torch.full((1, 1, 16, 16), 10.0)
    logits[..., 4:12, 4:12] = 0.0
    gen = torch.Generator().manual_seed(0)
    coords = get_uncertain_point_coords_with_randomness(logits, calculate_uncertainty, 16, 10.0, 1.0, gen)
    assert coords.shape == (1, 16, 2)
    # Every chosen point lies in the uncertain block (with its half-pixel interpolation border).
    assert ((coords >= 4 / 16) & (coords <= 12 / 16)).all()


def test_importance_sampling_keeps_top_uncertain_candidates_then_uniform():
    logits = torch.randn(3, 1, 8, 8) * 4
    seed = 7
    coords = get_uncertain_point_coords_with_randomness(
        logits, calculate_uncertainty, 10, 3.0, 0.7, torch.Generator().manual_seed(seed)
    )
    assert coords.shape == (3, 10, 2)
    # Replay the draws: 30 candidates per mask, then 3 uniform points per mask.
    replay = torch.Generator().manual_seed(seed)
    candidates = torch.rand(3, 30, 2, generator=replay)
    uniform = torch.rand(3, 3, 2, generator=replay)
    unc = calculate_uncertainty(point_sample(logits, candidates))[:, 0]  # [3, 30]
    chosen = calculate_uncertainty(point_sample(logits, coords[:, :7]))[:, 0]  # [3, 7]
    top = unc.topk(7, dim=1).values
    torch.testing.assert_close(chosen.sort(dim=1).values, top.sort(dim=1).values)
    torch.testing.assert_close(coords[:, 7:], uniform)


def test_generator_makes_sampling_reproducible():
    logits = torch.randn(2, 1, 6, 6)
    a = get_uncertain_point_coords_with_randomness(
        logits, calculate_uncertainty, 5, 2.0, 0.6, torch.Generator().manual_seed(3)
    )
    b = get_uncertain_point_coords_with_randomness(
        logits, calculate_uncertainty, 5, 2.0, 0.6, torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("oversample, importance", [(0.5, 0.5), (2.0, 1.5)])
def test_bad_ratios_raise(oversample, importance):
    with pytest.raises(ValueError, match="RATIO"):
        get_uncertain_point_coords_with_randomness(
            torch.zeros(1, 1, 4, 4), calculate_uncertainty, 4, oversample, importance
        )


def _recording(calls):
    def wrapped(input, point_coords, align_corners=False):
        calls.append(point_coords.clone())
        return point_sample(input, point_coords, align_corners)

    return wrapped


def test_matcher_uses_the_same_uniform_points_for_predictions_and_targets(monkeypatch):
    calls = []
    monkeypatch.setattr(matcher_module, "point_sample", _recording(calls))
    matcher = HungarianMatcher(cost_class=1, cost_mask=1, cost_dice=1, num_points=9)
    outputs = {"pred_logits": torch.randn(1, 3, 4), "pred_masks": torch.randn(1, 3, 4, 4)}
    targets = [{"labels": torch.tensor([0, 2]), "masks": torch.rand(2, 16, 16) > 0.5}]
    matcher(outputs, targets, generator=torch.Generator().manual_seed(0))
    pred_coords, tgt_coords = calls
    assert pred_coords.shape == (3, 9, 2) and tgt_coords.shape == (2, 9, 2)
    assert (pred_coords == pred_coords[:1]).all() and (tgt_coords == pred_coords[:1]).all()


def test_criterion_uses_the_same_points_for_predictions_and_targets(monkeypatch):
    calls = []
    monkeypatch.setattr(criterion_module, "point_sample", _recording(calls))
    criterion = SetCriterion(
        num_classes=3,
        matcher=HungarianMatcher(num_points=9),
        weight_dict=make_weight_dict(1, 1, 1),
        eos_coef=0.1,
        num_points=6,
    )
    outputs = {"pred_logits": torch.randn(1, 3, 4), "pred_masks": torch.randn(1, 3, 4, 4)}
    targets = [{"labels": torch.tensor([0, 2]), "masks": torch.rand(2, 16, 16) > 0.5}]
    criterion(outputs, targets)
    tgt_coords, pred_coords = calls  # targets are sampled first, under no_grad
    assert pred_coords.shape == (2, 6, 2)
    torch.testing.assert_close(pred_coords, tgt_coords)
