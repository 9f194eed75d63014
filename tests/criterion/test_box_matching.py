"""MaskFormer Table 5, matching by box: DETR's box head, L1 + GIoU costs and losses, by hand."""

import torch

from maskformer.criterion.box_losses import box_losses, pairwise_box_costs, target_boxes
from maskformer.criterion.matcher import BoxHungarianMatcher


def test_target_boxes_are_the_normalised_tight_boxes_of_the_masks():
    masks = torch.zeros(2, 10, 20, dtype=torch.bool)
    masks[0, 2:6, 4:14] = True  # x 4..14, y 2..6 -> cx 9/20, cy 4/10, w 10/20, h 4/10
    boxes = target_boxes(masks)
    torch.testing.assert_close(boxes[0], torch.tensor([0.45, 0.4, 0.5, 0.4]))
    torch.testing.assert_close(boxes[1], torch.zeros(4))  # empty mask


def test_pairwise_costs_and_losses_by_hand():
    pred = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.25, 0.25, 0.5, 0.5]])
    target = torch.tensor([[0.25, 0.25, 0.5, 0.5]])
    l1, giou = pairwise_box_costs(pred, target)
    torch.testing.assert_close(l1, torch.tensor([[0.25 + 0.25 + 0.3 + 0.3], [0.0]]))
    # pred 0 = [0.4, 0.6]^2, target = [0, 0.5]^2: intersection 0.01, union 0.04 + 0.25 - 0.01,
    # enclosing box [0, 0.6]^2 = 0.36.
    iou = 0.01 / 0.28
    torch.testing.assert_close(giou[0, 0], torch.tensor(iou - (0.36 - 0.28) / 0.36))
    torch.testing.assert_close(giou[1, 0], torch.tensor(1.0))
    losses = box_losses(pred[:1], target, num_masks=2.0)
    torch.testing.assert_close(losses["loss_bbox"], torch.tensor(1.1 / 2))
    torch.testing.assert_close(losses["loss_giou"], (1 - giou[0, 0]) / 2)


def test_box_matcher_picks_the_overlapping_box_not_the_mask():
    masks = torch.zeros(1, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = True
    outputs = {
        "pred_logits": torch.zeros(1, 2, 3),
        "pred_boxes": torch.tensor([[[0.75, 0.75, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]]]),
        "pred_masks": torch.zeros(1, 2, 8, 8),
    }
    indices = BoxHungarianMatcher()(outputs, [{"labels": torch.tensor([1]), "masks": masks}])
    assert indices[0][0].tolist() == [1] and indices[0][1].tolist() == [0]
