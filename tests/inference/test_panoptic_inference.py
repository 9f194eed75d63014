"""Panoptic inference: hand-derived outputs of the official procedure."""

import math

import torch

from maskformer.inference import panoptic_inference


def _logit(p):
    return math.log(p / (1 - p))


def _cls(classes, num_classes=3, strength=5.0):
    """Class logits where query i predicts ``classes[i]`` (``num_classes`` = no object)."""
    logits = torch.zeros(len(classes), num_classes + 1)
    for i, c in enumerate(classes):
        logits[i, c] = strength
    return logits


def _masks(probs):
    """Mask logits [Q, 1, W] from per-pixel mask probabilities."""
    return torch.tensor([[[_logit(p) for p in row]] for row in probs])


def test_two_things_split_the_image():
    mask_cls = _cls([0, 1])
    mask_pred = _masks([[0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9]])
    seg, info = panoptic_inference(
        mask_cls, mask_pred, thing_ids=[0, 1], object_mask_threshold=0.8, overlap_threshold=0.8
    )
    assert seg.dtype == torch.int32 and seg.shape == (1, 4)
    assert seg.tolist() == [[1, 1, 2, 2]]
    assert info == [
        {"id": 1, "category_id": 0, "isthing": True},
        {"id": 2, "category_id": 1, "isthing": True},
    ]


def test_no_object_and_low_score_queries_are_dropped():
    mask_cls = torch.cat([_cls([3]), _cls([1], strength=0.5), _cls([2])])  # no object, weak, good
    mask_pred = _masks([[0.9] * 4, [0.9] * 4, [0.1, 0.1, 0.9, 0.9]])
    seg, info = panoptic_inference(
        mask_cls, mask_pred, thing_ids=[2], object_mask_threshold=0.5, overlap_threshold=0.8
    )
    assert seg.tolist() == [[0, 0, 1, 1]]
    assert info == [{"id": 1, "category_id": 2, "isthing": True}]


def test_empty_result():
    seg, info = panoptic_inference(_cls([3, 3]), torch.randn(2, 3, 3), [0], 0.8, 0.8)
    assert seg.shape == (3, 3) and seg.dtype == torch.int32 and not seg.any() and info == []


def test_overlap_removal_leaves_void():
    # B's mask (pixels 1-3) mostly lies under A's higher score: B wins 1 pixel of 3 -> dropped,
    # and the pixel it won stays void.
    mask_cls = torch.cat([_cls([0], strength=6.0), _cls([1], strength=4.0)])
    mask_pred = _masks([[0.9, 0.9, 0.9, 0.1], [0.1, 0.8, 0.8, 0.9]])
    seg, info = panoptic_inference(
        mask_cls, mask_pred, [0, 1], object_mask_threshold=0.5, overlap_threshold=0.8
    )
    assert seg.tolist() == [[1, 1, 1, 0]]
    assert [s["category_id"] for s in info] == [0]
    # With no overlap threshold B keeps its pixel.
    seg, info = panoptic_inference(
        mask_cls, mask_pred, [0, 1], object_mask_threshold=0.5, overlap_threshold=0.0
    )
    assert seg.tolist() == [[1, 1, 1, 2]]


def test_winning_pixels_below_half_are_void():
    # A wins pixel 2 (0.3 * sA > 0.1 * sB) but its mask there is < 0.5: void.
    mask_cls = _cls([0, 1])
    mask_pred = _masks([[0.9, 0.9, 0.3, 0.1], [0.1, 0.1, 0.1, 0.9]])
    seg, _ = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8)
    assert seg.tolist() == [[1, 1, 0, 2]]


def test_overlap_ratio_uses_won_area_like_the_official_code():
    # A: mask >= 0.5 on pixels 0-3; it loses 2-3 to B but wins 4-5 (mask 0.3 there).
    # Won area 4 / original area 4 = 1 >= 0.8, so A is kept (with pixels 0-1), as officially.
    mask_cls = _cls([0, 1])
    mask_pred = _masks([[0.9, 0.9, 0.6, 0.6, 0.3, 0.3], [0.1, 0.1, 0.95, 0.95, 0.1, 0.1]])
    seg, info = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8)
    assert seg.tolist() == [[1, 1, 2, 2, 0, 0]]
    assert len(info) == 2


def test_stuff_of_the_same_class_merges_things_do_not():
    # Queries: stuff 2 (left), thing 0, stuff 2 (right), thing 0.
    mask_cls = _cls([2, 0, 2, 0])
    mask_pred = _masks(
        [
            [0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
            [0.1, 0.9, 0.1, 0.1, 0.1, 0.1],
            [0.1, 0.1, 0.9, 0.9, 0.1, 0.1],
            [0.1, 0.1, 0.1, 0.1, 0.9, 0.9],
        ]
    )
    seg, info = panoptic_inference(
        mask_cls, mask_pred, thing_ids={0}, object_mask_threshold=0.8, overlap_threshold=0.8
    )
    assert seg.tolist() == [[1, 2, 1, 1, 3, 3]]
    assert info == [
        {"id": 1, "category_id": 2, "isthing": False},
        {"id": 2, "category_id": 0, "isthing": True},
        {"id": 3, "category_id": 0, "isthing": True},
    ]


def test_invariants_on_random_input():
    gen = torch.Generator().manual_seed(0)
    mask_cls, mask_pred = torch.randn(10, 6, generator=gen) * 3, torch.randn(10, 12, 12, generator=gen) * 3
    seg, info = panoptic_inference(mask_cls, mask_pred, [0, 1, 2], 0.3, 0.5)
    ids = [s["id"] for s in info]
    assert ids == list(range(1, len(info) + 1))
    assert set(seg.unique().tolist()) <= {0, *ids}
    stuff = [s["category_id"] for s in info if not s["isthing"]]
    assert len(stuff) == len(set(stuff))


def test_maskformer_rule_keeps_won_pixels_below_half():
    # A wins pixel 2 with mask probability 0.4: MaskFormer (clip_to_mask=False) paints it,
    # Mask2Former (the default) leaves it void. The overlap ratio uses the won area in both.
    mask_cls = _cls([0, 1])
    mask_pred = _masks([[0.9, 0.9, 0.4, 0.1], [0.1, 0.1, 0.1, 0.9]])
    maskformer, info = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8, clip_to_mask=False)
    assert maskformer.tolist() == [[1, 1, 1, 2]] and len(info) == 2
    mask2former, _ = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8)
    assert mask2former.tolist() == [[1, 1, 0, 2]]
    # A query that wins only pixels below 0.5 but has mask >= 0.5 elsewhere (lost to B): kept by
    # MaskFormer when the won fraction passes the threshold, dropped by Mask2Former (no pixel left).
    mask_cls = torch.cat([_cls([0], strength=3.0), _cls([1], strength=6.0)])
    mask_pred = _masks([[0.45, 0.45, 0.6], [0.1, 0.1, 0.95]])
    seg, info = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8, clip_to_mask=False)
    assert seg.tolist() == [[1, 1, 2]] and [s["category_id"] for s in info] == [0, 1]
    seg, info = panoptic_inference(mask_cls, mask_pred, [0, 1], 0.8, 0.8)
    assert seg.tolist() == [[0, 0, 1]] and [s["category_id"] for s in info] == [1]
