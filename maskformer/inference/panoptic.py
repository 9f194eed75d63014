"""Panoptic inference: non-overlapping segments from mask classification (the papers' procedure)."""

from __future__ import annotations

from collections.abc import Collection

import torch

from .winner import winning_query

__all__ = ["kept_queries", "panoptic_inference"]


def kept_queries(
    mask_cls: torch.Tensor, object_mask_threshold: float
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The queries panoptic inference keeps (step 1 below), their scores and classes.

    Args:
        mask_cls: ``[Q, K+1]`` class logits (last = "no object").
        object_mask_threshold: minimum class probability of a kept query.

    Returns:
        ``(indices, scores, classes)``: ascending int64 ``[Q']``, ``[Q']`` probabilities of the
        most likely class, and those classes.
    """
    scores, labels = mask_cls.softmax(-1).max(-1)
    kept = (labels.ne(mask_cls.shape[-1] - 1) & (scores > object_mask_threshold)).nonzero().flatten()
    return kept, scores[kept], labels[kept].tolist()


def panoptic_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    thing_ids: Collection[int],
    object_mask_threshold: float,
    overlap_threshold: float,
    clip_to_mask: bool = True,
    mask_prob: torch.Tensor | None = None,
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
    void pixels. Every full-resolution step is one pass per kept query (no per-segment masks).

    Args:
        mask_cls: ``[Q, K+1]`` class logits (last = "no object").
        mask_pred: ``[Q, H, W]`` mask logits.
        thing_ids: contiguous class ids that are things (all others are stuff).
        object_mask_threshold: minimum class probability of a kept query.
        overlap_threshold: minimum fraction of a query's mask that must survive the argmax.
        clip_to_mask: True: Mask2Former's rule (a segment keeps only its pixels with mask >= 0.5);
            False: MaskFormer's (a segment is every pixel its query wins).
        mask_prob: ``mask_pred.sigmoid()`` ``[Q, H, W]`` when the caller has it already; None
            computes it for the kept queries only.

    Returns:
        ``(panoptic_seg, segments_info)``: int32 ``[H, W]`` segment ids and, per segment,
        ``{"id": int, "category_id": int, "isthing": bool}``.
    """
    kept, scores, classes = kept_queries(mask_cls, object_mask_threshold)
    if kept.numel() == 0:
        return torch.zeros(mask_pred.shape[-2:], dtype=torch.int32, device=mask_pred.device), []
    rows = kept.tolist()
    if mask_prob is None:
        mask_prob, rows = mask_pred[kept].sigmoid(), list(range(len(rows)))
    winner, winner_prob = winning_query(mask_prob, rows, scores)
    # A pixel stays in its winner's segment unless (Mask2Former) the winner's mask is < 0.5 there.
    painted = winner_prob >= 0.5 if clip_to_mask else torch.ones_like(winner, dtype=torch.bool)
    counts = _segment_counts(mask_prob, rows, winner, painted)
    segment_of_query, segments_info = _segments(classes, counts, thing_ids, overlap_threshold)
    lut = torch.tensor([0, *segment_of_query], dtype=torch.int32, device=winner.device)
    # Position 0 of the table is void: unpainted pixels point there.
    return lut[torch.where(painted, winner + 1, 0)], segments_info


def _segment_counts(
    mask_prob: torch.Tensor, rows: list[int], winner: torch.Tensor, painted: torch.Tensor
) -> list[tuple[int, int, int]]:
    """Per kept query: (pixels won, pixels with mask >= 0.5, pixels painted)."""
    num = len(rows)
    won = torch.bincount(winner.flatten(), minlength=num).tolist()
    kept_won = torch.bincount(torch.where(painted, winner, num).flatten(), minlength=num + 1).tolist()
    original = [int(torch.count_nonzero(mask_prob[row] >= 0.5)) for row in rows]
    return list(zip(won, original, kept_won[:num]))


def _segments(
    classes: list[int],
    counts: list[tuple[int, int, int]],
    thing_ids: Collection[int],
    overlap_threshold: float,
) -> tuple[list[int], list[dict]]:
    """Segment id of every kept query (0 = dropped), and ``segments_info`` (steps 3-4)."""
    thing_set = {int(i) for i in thing_ids}
    stuff_segment: dict[int, int] = {}  # stuff class -> its (single) segment id
    segment_of_query: list[int] = []
    segments_info: list[dict] = []
    for category, (mask_area, original_area, painted_area) in zip(classes, counts):
        empty = mask_area == 0 or original_area == 0 or painted_area == 0
        if empty or mask_area / original_area < overlap_threshold:
            segment_of_query.append(0)
        elif category not in thing_set and category in stuff_segment:
            segment_of_query.append(stuff_segment[category])
        else:
            segment_id = len(segments_info) + 1
            isthing = category in thing_set
            segments_info.append({"id": segment_id, "category_id": category, "isthing": isthing})
            segment_of_query.append(segment_id)
            if not isthing:
                stuff_segment[category] = segment_id
    return segment_of_query, segments_info
