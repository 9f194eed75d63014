"""Matchers: optimality against brute force, batching, empty images, fixed matching, config."""

import itertools

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import (
    FixedMatcher,
    HungarianMatcher,
    build_matcher,
    pairwise_dice_loss,
    pairwise_sigmoid_ce_loss,
)


def _random_batch(gen, batch=3, queries=4, classes=3, size=6, max_targets=4):
    outputs = {
        "pred_logits": torch.randn(batch, queries, classes + 1, generator=gen),
        "pred_masks": torch.randn(batch, queries, size, size, generator=gen) * 2,
    }
    targets = []
    for _ in range(batch):
        n = int(torch.randint(0, max_targets + 1, (1,), generator=gen))
        targets.append(
            {
                "labels": torch.randint(0, classes, (n,), generator=gen),
                "masks": torch.rand(n, 2 * size, 2 * size, generator=gen) > 0.5,
            }
        )
    return outputs, targets


def _brute_force_min(cost):
    """Minimum total cost over all injective maps targets -> predictions."""
    num_queries, num_targets = cost.shape
    return min(
        sum(cost[q, n].item() for n, q in enumerate(perm))
        for perm in itertools.permutations(range(num_queries), num_targets)
    )


@pytest.mark.parametrize(
    "mask_loss, num_points", [("sigmoid_ce", 0), ("sigmoid_focal", 0), ("sigmoid_ce", 20)]
)
def test_assignment_is_minimum_cost(mask_loss, num_points):
    gen = torch.Generator().manual_seed(1)
    matcher = HungarianMatcher(
        cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=num_points, mask_loss=mask_loss
    )
    for _ in range(4):
        outputs, targets = _random_batch(gen)
        coords = [torch.rand(num_points, 2, generator=gen) for _ in targets] if num_points else None
        indices = matcher.match_at_points(outputs, targets, coords)
        for b, (target, (pred_idx, tgt_idx)) in enumerate(zip(targets, indices)):
            assert pred_idx.dtype == tgt_idx.dtype == torch.int64
            assert len(pred_idx) == len(tgt_idx) == len(target["labels"])
            assert sorted(tgt_idx.tolist()) == list(range(len(target["labels"])))
            assert len(set(pred_idx.tolist())) == len(pred_idx)
            if len(pred_idx) == 0:
                continue
            cost = matcher.cost_matrices(outputs, targets, coords)[b]
            assert cost[pred_idx, tgt_idx].sum().item() == pytest.approx(_brute_force_min(cost), rel=1e-5)


def test_cost_matrix_formula_on_full_masks():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    masks = torch.tensor([[[3.0, -3.0], [0.0, 1.0]], [[-2.0, 2.0], [1.0, -1.0]]])
    tgt = torch.tensor([[[1, 0], [0, 1]]], dtype=torch.bool)
    # Targets at twice the resolution go to the prediction size with nearest neighbour.
    tgt_big = tgt.repeat_interleave(2, 1).repeat_interleave(2, 2)
    matcher = HungarianMatcher(cost_class=2.0, cost_mask=3.0, cost_dice=4.0)
    outputs = {"pred_logits": logits[None], "pred_masks": masks[None]}
    (cost,) = matcher.cost_matrices(outputs, [{"labels": torch.tensor([1]), "masks": tgt_big}])
    flat_pred, flat_tgt = masks.flatten(1), tgt.flatten(1).float()
    expected = (
        -2.0 * logits.softmax(-1)[:, [1]]
        + 3.0 * pairwise_sigmoid_ce_loss(flat_pred, flat_tgt)
        + 4.0 * pairwise_dice_loss(flat_pred, flat_tgt)
    )
    torch.testing.assert_close(cost, expected)


def test_hand_made_assignment():
    # Query 1 predicts class 0 with the right mask, query 0 predicts class 1 with the other one.
    logits = torch.tensor([[[-5.0, 5.0, 0.0], [5.0, -5.0, 0.0], [0.0, 0.0, 5.0]]])
    left = torch.tensor([[1, 0], [1, 0]], dtype=torch.bool)
    masks = torch.stack([(~left).float(), left.float(), torch.zeros(2, 2)])[None] * 20 - 10
    targets = [{"labels": torch.tensor([0, 1]), "masks": torch.stack([left, ~left])}]
    ((pred_idx, tgt_idx),) = HungarianMatcher(1.0, 1.0, 1.0)(
        {"pred_logits": logits, "pred_masks": masks}, targets
    )
    assert pred_idx.tolist() == [0, 1] and tgt_idx.tolist() == [1, 0]


def test_batched_equals_per_image():
    gen = torch.Generator().manual_seed(2)
    outputs, targets = _random_batch(gen, batch=4)
    coords = [torch.rand(16, 2, generator=gen) for _ in targets]
    for num_points, pts in ((0, None), (16, coords)):
        matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=num_points)
        batched = matcher.match_at_points(outputs, targets, pts)
        for b in range(4):
            single = {k: v[b : b + 1] for k, v in outputs.items()}
            ((pred_idx, tgt_idx),) = matcher.match_at_points(single, [targets[b]], [pts[b]] if pts else None)
            assert batched[b][0].tolist() == pred_idx.tolist() and batched[b][1].tolist() == tgt_idx.tolist()


def test_images_without_targets():
    outputs = {"pred_logits": torch.randn(2, 3, 4), "pred_masks": torch.randn(2, 3, 4, 4)}
    targets = [
        {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 8, 8, dtype=torch.bool)},
        {"labels": torch.tensor([2]), "masks": torch.ones(1, 8, 8, dtype=torch.bool)},
    ]
    for num_points in (0, 10):
        indices = HungarianMatcher(num_points=num_points)(outputs, targets)
        assert indices[0][0].shape == (0,) and indices[0][1].shape == (0,)
        assert indices[0][0].dtype == torch.int64
        assert len(indices[1][0]) == 1 and indices[1][1].tolist() == [0]


def test_runs_in_fp32_under_autocast():
    gen = torch.Generator().manual_seed(3)
    outputs, targets = _random_batch(gen, batch=2, max_targets=3)
    matcher = HungarianMatcher(2.0, 5.0, 5.0)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        got = matcher({k: v.bfloat16() for k, v in outputs.items()}, targets)
    ref_bf16 = matcher({k: v.bfloat16().float() for k, v in outputs.items()}, targets)
    for (p1, t1), (p2, t2) in zip(got, ref_bf16):
        assert p1.tolist() == p2.tolist() and t1.tolist() == t2.tolist()


def test_non_finite_cost_raises():
    outputs = {"pred_logits": torch.full((1, 2, 3), float("nan")), "pred_masks": torch.randn(1, 2, 4, 4)}
    targets = [{"labels": torch.tensor([0]), "masks": torch.ones(1, 4, 4, dtype=torch.bool)}]
    with pytest.raises(FloatingPointError, match="diverged"):
        HungarianMatcher()(outputs, targets)


def test_all_zero_costs_rejected():
    with pytest.raises(ValueError, match="CLASS_WEIGHT"):
        HungarianMatcher(0.0, 0.0, 0.0)


def test_fixed_matcher_pairs_query_i_with_class_i():
    outputs = {"pred_logits": torch.randn(2, 4, 5), "pred_masks": torch.randn(2, 4, 3, 3)}
    targets = [
        {"labels": torch.tensor([3, 0]), "masks": torch.zeros(2, 3, 3)},
        {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 3, 3)},
    ]
    (p0, t0), (p1, t1) = FixedMatcher()(outputs, targets)
    assert p0.tolist() == [0, 3] and t0.tolist() == [1, 0]
    assert p1.tolist() == [] and t1.tolist() == []


def test_fixed_matcher_errors():
    outputs = {"pred_logits": torch.randn(1, 2, 3), "pred_masks": torch.randn(1, 2, 3, 3)}
    with pytest.raises(ValueError, match="NUM_OBJECT_QUERIES"):
        FixedMatcher()(outputs, [{"labels": torch.tensor([2]), "masks": torch.zeros(1, 3, 3)}])
    with pytest.raises(ValueError, match="one target per class"):
        FixedMatcher()(outputs, [{"labels": torch.tensor([1, 1]), "masks": torch.zeros(2, 3, 3)}])


def test_build_matcher_from_config():
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.CLASS_WEIGHT = 2.0
    cfg.MODEL.MASK_FORMER.MASK_WEIGHT = 5.0
    cfg.MODEL.MASK_FORMER.DICE_WEIGHT = 4.0
    cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 0
    cfg.MODEL.MASK_FORMER.MASK_LOSS = "sigmoid_focal"
    matcher = build_matcher(cfg)
    assert isinstance(matcher, HungarianMatcher)
    assert (matcher.cost_class, matcher.cost_mask, matcher.cost_dice, matcher.num_points) == (
        2.0,
        5.0,
        4.0,
        0,
    )
    assert type(matcher.mask_loss).__name__ == "SigmoidFocalLoss"
    cfg.MODEL.MASK_FORMER.MATCHER = "FixedMatcher"
    assert isinstance(build_matcher(cfg), FixedMatcher)
    cfg.MODEL.MASK_FORMER.MATCHER = "Hungarian"
    with pytest.raises(KeyError, match="MATCHER.*HungarianMatcher"):
        build_matcher(cfg)
