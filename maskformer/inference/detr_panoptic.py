"""DETR's panoptic post-processing, for MaskFormer Table 3's "MaskFormer (DETR)" row.

DETR (Carion et al. 2020, ``PostProcessPanoptic``) turns queries into segments differently from
the MaskFormer procedure (``panoptic.py``):

1. keep the queries whose most likely class is not "no object" and whose probability for it is
   ``> threshold`` (0.85 in DETR);
2. every pixel goes to the kept query with the highest mask logit (DETR takes the arg-max of a
   softmax over the kept queries' masks: the same query). Every pixel belongs to a segment: there
   is no overlap test and no void;
3. the queries of one stuff class are merged into its first query's segment;
4. segments of at most ``min_area`` pixels are dropped and the pixels re-assigned among the
   remaining queries (stuff no longer merged), until none is that small.

Segment ids are given consecutively from 1 in query order. DETR works at the network input size
and resizes the id map (nearest) to the output size; here, as for the MaskFormer procedure, the
masks come at the output size already. With no kept query the image is void (DETR labels the
whole image with class 1 then).
"""

from __future__ import annotations

from collections.abc import Collection

import torch

from .winner import winning_query

__all__ = ["detr_panoptic_inference"]

# DETR's PostProcessPanoptic defaults.
DETR_THRESHOLD = 0.85
DETR_MIN_AREA = 4


def _assign(masks: torch.Tensor, merge: dict[int, int]) -> torch.Tensor:
    """Index of the winning query per pixel ``[H, W]``, with merged stuff queries redirected."""
    winner, _ = winning_query(masks, range(masks.shape[0]))
    if not merge:
        return winner
    target = torch.arange(masks.shape[0], device=masks.device)
    target[list(merge)] = torch.tensor(list(merge.values()), device=masks.device)
    return target[winner]


def detr_panoptic_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    thing_ids: Collection[int],
    threshold: float = DETR_THRESHOLD,
    min_area: int = DETR_MIN_AREA,
) -> tuple[torch.Tensor, list[dict]]:
    """DETR's panoptic segmentation of one image.

    Args:
        mask_cls: ``[Q, K+1]`` class logits (last = "no object").
        mask_pred: ``[Q, H, W]`` mask logits at the output size.
        thing_ids: contiguous ids of the thing classes.
        threshold: minimum class probability of a kept query.
        min_area: segments of at most this many pixels are dropped.

    Returns:
        ``(panoptic_seg, segments_info)``: int32 ``[H, W]`` ids (0 = void) and, per segment,
        ``{"id", "category_id", "isthing"}``.
    """
    num_classes = mask_cls.shape[-1] - 1
    scores, labels = mask_cls.softmax(-1).max(-1)
    keep = labels.ne(num_classes) & (scores > threshold)
    classes, masks = labels[keep].tolist(), mask_pred[keep]
    void = torch.zeros(mask_pred.shape[-2:], dtype=torch.int32, device=mask_pred.device)
    if not classes:
        return void, []
    thing_set = {int(i) for i in thing_ids}
    first_of_stuff: dict[int, int] = {}
    merge = {}
    for k, category in enumerate(classes):
        first = first_of_stuff.setdefault(category, k) if category not in thing_set else k
        if first != k:
            merge[k] = first
    winner = _assign(masks, merge)
    while True:
        small = torch.bincount(winner.flatten(), minlength=len(classes)) <= min_area
        if small.all():
            return void, []
        if not small.any():
            break
        kept = (~small).nonzero().flatten().tolist()
        classes, masks = [classes[k] for k in kept], masks[kept]
        winner = _assign(masks, {})
    segments_info = [
        {"id": k + 1, "category_id": category, "isthing": category in thing_set}
        for k, category in enumerate(classes)
    ]
    return (winner + 1).to(torch.int32), segments_info
