"""The Matcher base: every matcher is called the same way and gives the same kind of result."""

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import (
    MATCHER_REGISTRY,
    Matcher,
    SetCriterion,
    build_matcher,
    make_weight_dict,
    solve_assignments,
)


def _outputs_and_targets():
    """Three queries over classes {0, 1, 2} (K = 3), query q predicting class q with mask/box q."""
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :4], masks[1, 4:, 4:], masks[2, :4, 4:] = True, True, True
    boxes = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.75, 0.25, 0.5, 0.5]])
    outputs = {
        "pred_logits": (torch.eye(3, 4) * 8)[None].repeat(2, 1, 1),
        "pred_masks": (masks.float() * 20 - 10)[None].repeat(2, 1, 1, 1),
        "pred_boxes": boxes[None].repeat(2, 1, 1),
    }
    # Image 0: targets of classes 2 and 0 (masks 2 and 0); image 1: no target.
    targets = [
        {"labels": torch.tensor([2, 0]), "masks": masks[[2, 0]]},
        {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 8, 8, dtype=torch.bool)},
    ]
    return outputs, targets


@pytest.mark.parametrize("name", ["HungarianMatcher", "FixedMatcher", "BoxHungarianMatcher"])
def test_every_matcher_through_one_signature(name):
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.MATCHER = name
    cfg.MODEL.MASK_FORMER.BOX_HEAD = True  # the box matcher needs it; the others ignore it
    cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 16
    matcher = build_matcher(cfg)
    assert isinstance(matcher, Matcher) and type(matcher) is MATCHER_REGISTRY.get(name)
    outputs, targets = _outputs_and_targets()
    (p0, t0), (p1, t1) = matcher(outputs, targets, generator=torch.Generator().manual_seed(0))
    assert p0.tolist() == [0, 2] and t0.tolist() == [1, 0]  # query 0 <-> class 0, query 2 <-> class 2
    assert p1.dtype == t1.dtype == torch.int64 and p1.tolist() == t1.tolist() == []


def test_solve_assignments_by_hand():
    costs = [torch.tensor([[4.0, 1.0], [2.0, 8.0], [0.0, 3.0]]), torch.zeros(2, 0)]
    (rows, cols), (empty_rows, empty_cols) = solve_assignments(costs)
    assert rows.tolist() == [0, 2] and cols.tolist() == [1, 0]  # 1 + 0 beats 2 + 1 and 4 + 3
    assert empty_rows.tolist() == empty_cols.tolist() == []
    with pytest.raises(FloatingPointError, match="diverged"):
        solve_assignments([torch.tensor([[float("inf")]])])


def test_a_researchers_matcher_plugs_into_the_criterion():
    class FirstQueries(Matcher):
        """Target n <-> query n (no config needed: the base builds it)."""

        def match(self, outputs, targets, generator):
            return [(torch.arange(len(t["labels"])), torch.arange(len(t["labels"]))) for t in targets]

    MATCHER_REGISTRY.register(FirstQueries)
    try:
        cfg = get_cfg()
        cfg.MODEL.MASK_FORMER.MATCHER = "FirstQueries"
        matcher = build_matcher(cfg)
    finally:
        MATCHER_REGISTRY.unregister("FirstQueries")
    outputs, targets = _outputs_and_targets()
    criterion = SetCriterion(
        num_classes=3, matcher=matcher, weight_dict=make_weight_dict(1.0, 1.0, 1.0), eos_coef=0.1
    )
    losses = criterion(outputs, targets)
    # Queries 0 and 1 get classes 2 and 0: the classification loss is far from the matched optimum.
    assert losses["loss_ce"].item() > 3.0


@pytest.mark.parametrize("num_points", [0, 12])
def test_batched_costs_equal_one_image_at_a_time(num_points):
    """Targets of different counts and sizes (and an empty image) share one batched computation."""
    gen = torch.Generator().manual_seed(4)
    outputs = {
        "pred_logits": torch.randn(3, 5, 4, generator=gen),
        "pred_masks": torch.randn(3, 5, 6, 6, generator=gen),
    }
    targets = [
        {"labels": torch.tensor([2, 0, 1]), "masks": torch.rand(3, 12, 12, generator=gen) > 0.5},
        {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 9, 7, dtype=torch.bool)},
        {"labels": torch.tensor([1]), "masks": torch.rand(1, 24, 18, generator=gen) > 0.5},
    ]
    points = [torch.rand(num_points, 2, generator=gen) for _ in targets] if num_points else None
    matcher = build_matcher(get_cfg())
    batched = matcher.cost_matrices(outputs, targets, points)
    assert [tuple(c.shape) for c in batched] == [(5, 3), (5, 0), (5, 1)]
    for b, target in enumerate(targets):
        single = {k: v[b : b + 1] for k, v in outputs.items()}
        (alone,) = matcher.cost_matrices(single, [target], [points[b]] if points else None)
        torch.testing.assert_close(batched[b], alone)
