"""DETR's panoptic post-processing (MaskFormer Table 3, "MaskFormer (DETR)") on hand-made queries."""

import torch

from maskformer.inference.detr_panoptic import detr_panoptic_inference

K = 3  # classes 0, 1 are things, 2 is stuff; index 3 is "no object"


def _logits(classes: list[int], confident: list[bool]) -> torch.Tensor:
    logits = torch.zeros(len(classes), K + 1)
    for q, (c, sure) in enumerate(zip(classes, confident)):
        logits[q, c] = 10.0 if sure else 1.0
    return logits


def test_every_pixel_goes_to_the_highest_mask_logit_and_stuff_merges():
    masks = torch.full((4, 4, 6), -1.0)
    masks[0, :, :2] = 2.0  # thing 0 on the left
    masks[1, :, 2:] = 0.2  # stuff, middle and right: a weak logit still wins (no 0.5 threshold)
    masks[2, :, 4:] = 3.0  # the same stuff class wins the right: merged into query 1's segment
    masks[3] = 9.0  # not confident: dropped before the argmax
    seg, info = detr_panoptic_inference(_logits([0, 2, 2, 1], [True, True, True, False]), masks, {0, 1})
    # Query 2's pixels went to query 1 (merge), so it was empty and dropped as a small segment;
    # the re-assignment without it (and without merging, as DETR) gives them to query 1 again.
    assert info == [
        {"id": 1, "category_id": 0, "isthing": True},
        {"id": 2, "category_id": 2, "isthing": False},
    ]
    assert (seg[:, :2] == 1).all() and (seg[:, 2:] == 2).all()


def test_small_segments_are_dropped_and_their_pixels_reassigned():
    masks = torch.zeros(2, 5, 5)
    masks[0] = 1.0
    masks[1, 0, :4] = 2.0  # 4 pixels: <= 4, dropped; query 0 takes them
    seg, info = detr_panoptic_inference(_logits([0, 1], [True, True]), masks, {0, 1})
    assert info == [{"id": 1, "category_id": 0, "isthing": True}]
    assert (seg == 1).all()


def test_nothing_confident_is_void():
    seg, info = detr_panoptic_inference(_logits([0], [False]), torch.zeros(1, 3, 3), {0})
    assert info == [] and (seg == 0).all()

