"""Panoptic inference: non-overlapping segments from mask classification (the papers' procedure)."""

from __future__ import annotations

from collections.abc import Collection

import torch

__all__ = ["panoptic_inference"]


def panoptic_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    thing_ids: Collection[int],
    object_mask_threshold: float,
    overlap_threshold: float,
    clip_to_mask: bool = True,
) -> tuple[torch.Tensor, list[dict]]:
    """Turns per-query class logits and mask logits into a panoptic segmentation.

    The official procedure:

    1. keep the queries whose most likely class is not "no object" and whose probability for it
       (the score) is ``> object_mask_threshold``;
    2. assign every pixel to the kept query maximising ``score * sigmoid(mask)``;
    3. a query's segment is the pixels it wins; with ``clip_to_mask`` (Mask2Former) only those
       where its own ``sigmoid(mask) >= 0.5``, without it (MaskFormer) all of them, even where its
       mask is below 0.5. It is dropped when it wins no pixel, has no pixel with mask >= 0.5, keeps
       no pixel, or when (pixels won) / (pixels with mask >= 0.5) ``< overlap_threshold``;
    4. segments of the same stuff class merge into one; thing segments stay separate.

    Queries are visited in index order and segment ids are given consecutively from 1; 0 marks
    void pixels.

    Args:
        mask_cls: ``[Q, K+1]`` class logits (last = "no object").
        mask_pred: ``[Q, H, W]`` mask logits.
        thing_ids: contiguous class ids that are things (all others are stuff).
        object_mask_threshold: minimum class probability of a kept query.
        overlap_threshold: minimum fraction of a query's mask that must survive the argmax.
        clip_to_mask: True: Mask2Former's rule (a segment keeps only its pixels with mask >= 0.5);
            False: MaskFormer's (a segment is every pixel its query wins).

    Returns:
        ``(panoptic_seg, segments_info)``: int32 ``[H, W]`` segment ids and, per segment,
        ``{"id": int, "category_id": int, "isthing": bool}``.
    """
    num_classes = mask_cls.shape[-1] - 1
    scores, labels = mask_cls.softmax(-1).max(-1)
    keep = labels.ne(num_classes) & (scores > object_mask_threshold)
    cur_scores, cur_classes = scores[keep], labels[keep]
    cur_masks = mask_pred[keep].sigmoid()  # [Q', H, W]
    panoptic_seg = torch.zeros(mask_pred.shape[-2:], dtype=torch.int32, device=mask_pred.device)
    segments_info: list[dict] = []
    if cur_masks.shape[0] == 0:
        return panoptic_seg, segments_info

    winner = (cur_scores[:, None, None] * cur_masks).argmax(0)  # [H, W] index into kept queries
    thing_set = {int(i) for i in thing_ids}
    stuff_segment: dict[int, int] = {}  # stuff class -> its (single) segment id
    for k in range(cur_classes.shape[0]):
        category = int(cur_classes[k])
        won = winner == k
        mask_area = int(won.sum())
        original_area = int((cur_masks[k] >= 0.5).sum())
        segment = won & (cur_masks[k] >= 0.5) if clip_to_mask else won
        if mask_area == 0 or original_area == 0 or not segment.any():
            continue
        if mask_area / original_area < overlap_threshold:
            continue
        isthing = category in thing_set
        if not isthing and category in stuff_segment:
            panoptic_seg[segment] = stuff_segment[category]
            continue
        segment_id = len(segments_info) + 1
        panoptic_seg[segment] = segment_id
        segments_info.append({"id": segment_id, "category_id": category, "isthing": isthing})
        if not isthing:
            stuff_segment[category] = segment_id
    return panoptic_seg, segments_info
