"""Instance inference: top-k over query x class pairs, thing filter, score formula, boxes."""

import math

import pytest
import torch

from maskformer.inference import instance_inference


def _two_queries():
    # q0: softmax [0.5, 0.25, 0.25]; q1: softmax [0.125, 0.625, 0.25] (last = no object).
    mask_cls = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.125, 0.625, 0.25]]))
    # q0 covers pixels (0,0) and (0,1) with probs 0.75 and 0.9; q1 covers (1,1) with prob 0.6.
    p = torch.tensor([[[0.75, 0.9], [0.2, 0.4]], [[0.1, 0.3], [0.45, 0.6]]])
    return mask_cls, torch.log(p / (1 - p))


def test_scores_classes_masks_and_boxes_by_hand():
    mask_cls, mask_pred = _two_queries()
    result = instance_inference(mask_cls, mask_pred, thing_ids=None, panoptic_on=False, topk=4)
    assert result.image_size == (2, 2) and len(result) == 4
    # Pairs sorted by class probability: (q1, c1) .625, (q0, c0) .5, (q0, c1) .25, (q1, c0) .125.
    assert result.pred_classes.tolist() == [1, 0, 1, 0] and result.pred_classes.dtype == torch.int64
    q0_mask, q1_mask = 0.825, 0.6  # mean sigmoid inside the binary mask
    expected = [0.625 * q1_mask, 0.5 * q0_mask, 0.25 * q0_mask, 0.125 * q1_mask]
    assert result.scores.tolist() == pytest.approx(expected, rel=1e-5)
    assert result.pred_masks.dtype == torch.bool
    assert result.pred_masks[0].tolist() == [[False, False], [False, True]]
    assert result.pred_masks[1].tolist() == [[True, True], [False, False]]
    assert result.pred_boxes.tolist() == [[1, 1, 2, 2], [0, 0, 2, 1], [0, 0, 2, 1], [1, 1, 2, 2]]


def test_topk_is_clamped_and_limits_the_result():
    mask_cls, mask_pred = _two_queries()
    assert len(instance_inference(mask_cls, mask_pred, None, False, topk=2)) == 2
    assert len(instance_inference(mask_cls, mask_pred, None, False, topk=100)) == 4


def test_thing_filter_when_panoptic_on():
    mask_cls, mask_pred = _two_queries()
    result = instance_inference(mask_cls, mask_pred, thing_ids=[0], panoptic_on=True, topk=4)
    assert result.pred_classes.tolist() == [0, 0]
    assert result.scores.tolist() == pytest.approx([0.5 * 0.825, 0.125 * 0.6], rel=1e-5)
    # Top-k comes first, then the filter (as officially): top-2 pairs hold one thing pair.
    assert len(instance_inference(mask_cls, mask_pred, [0], True, topk=2)) == 1
    # Panoptic off, or thing_ids None: every class is kept.
    assert len(instance_inference(mask_cls, mask_pred, [0], False, topk=4)) == 4
    assert len(instance_inference(mask_cls, mask_pred, None, True, topk=4)) == 4


def test_score_threshold():
    mask_cls, mask_pred = _two_queries()
    result = instance_inference(mask_cls, mask_pred, None, False, topk=4, score_thresh=0.3)
    assert result.scores.tolist() == pytest.approx([0.625 * 0.6, 0.5 * 0.825], rel=1e-5)


def test_empty_masks_score_zero_and_empty_result_shapes():
    mask_cls = torch.tensor([[math.log(3.0), 0.0, 0.0]])
    result = instance_inference(mask_cls, torch.full((1, 3, 3), -5.0), None, False, topk=5)
    assert result.scores.tolist() == [0.0, 0.0] and not result.pred_masks.any()
    assert result.pred_boxes.tolist() == [[0.0] * 4] * 2
    empty = instance_inference(mask_cls, torch.randn(1, 3, 3), None, False, topk=0)
    assert len(empty) == 0 and empty.pred_masks.shape == (0, 3, 3) and empty.pred_boxes.shape == (0, 4)
