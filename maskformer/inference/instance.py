"""Instance inference: top-k (query, class) pairs scored by class and mask confidence."""

from __future__ import annotations

from collections.abc import Collection

import torch

from ..structures import Instances, masks_to_boxes
from ..utils.hugepages import empty_for_writing

__all__ = [
    "instance_inference",
    "instance_pairs",
    "instances_of_masks",
    "instances_of_pairs",
    "positive_masks",
]


def instance_pairs(
    mask_cls: torch.Tensor, thing_ids: Collection[int] | None, panoptic_on: bool, topk: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1-2 of :func:`instance_inference`: the selected (query, class) pairs.

    Returns:
        ``(class_scores, classes, queries)``, each ``[N]``, highest class score first.
    """
    num_queries, num_classes = mask_cls.shape[0], mask_cls.shape[-1] - 1
    probs = mask_cls.softmax(-1)[:, :-1]  # [Q, K]
    # Flattened pair index = query * K + class.
    class_scores, pair_idx = probs.flatten().topk(min(topk, num_queries * num_classes), sorted=True)
    classes = pair_idx % num_classes
    queries = pair_idx // num_classes
    if panoptic_on and thing_ids is not None:
        is_thing = torch.zeros(num_classes, dtype=torch.bool, device=mask_cls.device)
        is_thing[[int(i) for i in thing_ids]] = True
        keep = is_thing[classes]
        class_scores, classes, queries = class_scores[keep], classes[keep], queries[keep]
    return class_scores, classes, queries


def instance_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    thing_ids: Collection[int] | None,
    panoptic_on: bool,
    topk: int,
    score_thresh: float = 0.0,
    mask_prob: torch.Tensor | None = None,
) -> Instances:
    """Selects instances among all (query, class) pairs (Mask2Former Sec. 4.1 post-processing).

    1. Class probabilities ``softmax(mask_cls)[:, :K]`` over all Q x K pairs ("no object"
       excluded); the ``topk`` most probable pairs are kept, highest first (a query may appear
       with several classes).
    2. When ``panoptic_on``, only pairs of thing classes are kept (``thing_ids`` None: every class
       is a thing), as the official code does so that stuff does not enter the instance AP.
    3. ``pred_masks = mask_pred > 0``; ``scores = class prob * mean of sigmoid(mask)`` inside the
       binary mask (0 for an empty mask); pairs with ``scores < score_thresh`` are dropped (the
       default 0 keeps all).
    4. ``pred_boxes`` are the tight boxes around the binary masks.

    Args:
        mask_cls: ``[Q, K+1]`` class logits.
        mask_pred: ``[Q, H, W]`` mask logits.
        thing_ids: contiguous ids of thing classes, or None when all classes are things.
        panoptic_on: keep thing classes only.
        topk: maximum number of pairs kept (``TEST.DETECTIONS_PER_IMAGE``).
        score_thresh: minimum final score (``MODEL.MASK_FORMER.TEST.INSTANCE_SCORE_THRESH``).
        mask_prob: ``mask_pred.sigmoid()`` ``[Q, H, W]`` when the caller has it already; None
            computes it for the selected queries only.

    Returns:
        ``Instances((H, W))`` with ``pred_masks`` bool ``[N, H, W]``, ``scores`` ``[N]``,
        ``pred_classes`` int64 ``[N]``, ``pred_boxes`` float ``[N, 4]`` XYXY.
    """
    pairs = instance_pairs(mask_cls, thing_ids, panoptic_on, topk)
    return instances_of_pairs(*pairs, mask_pred, score_thresh, mask_prob)


def instances_of_pairs(
    class_scores: torch.Tensor,
    classes: torch.Tensor,
    queries: torch.Tensor,
    mask_pred: torch.Tensor,
    score_thresh: float = 0.0,
    mask_prob: torch.Tensor | None = None,
) -> Instances:
    """Steps 3-4 of :func:`instance_inference` for pairs of :func:`instance_pairs`.

    Args:
        class_scores: ``[N]`` class probabilities of the pairs.
        classes: ``[N]`` their classes.
        queries: ``[N]`` their queries: rows of ``mask_pred``.
        mask_pred: ``[Q, H, W]`` mask logits.
        score_thresh: minimum final score.
        mask_prob: ``mask_pred.sigmoid()``: masks, mask scores and boxes are then computed once
            per distinct query. None: the sigmoid of the pairs' gathered masks, as officially.
    """
    if mask_prob is None:
        slot = torch.arange(len(queries), device=queries.device)
        binary, mask_scores = _gathered_masks(mask_pred[queries])
        return _instances(class_scores, classes, slot, binary, mask_scores, score_thresh)
    distinct, slot = torch.unique(queries, return_inverse=True)  # pair n: distinct[slot[n]]
    rows = distinct.tolist()
    binary = positive_masks(mask_pred, rows)
    return instances_of_masks(class_scores, classes, slot, rows, binary, mask_prob, score_thresh)


def positive_masks(mask_pred: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``mask_pred[rows] > 0`` ``[R, H, W]`` bool, one pass per row (no float copy)."""
    binary = empty_for_writing((len(rows), *mask_pred.shape[-2:]), torch.bool, mask_pred.device)
    for i, row in enumerate(rows):
        torch.gt(mask_pred[row], 0, out=binary[i])
    return binary


def instances_of_masks(
    class_scores: torch.Tensor,
    classes: torch.Tensor,
    slot: torch.Tensor,
    rows: list[int],
    binary: torch.Tensor,
    mask_prob: torch.Tensor,
    score_thresh: float = 0.0,
) -> Instances:
    """Steps 3-4 of :func:`instance_inference` with masks computed once per distinct query.

    Args:
        class_scores: ``[N]`` class probabilities of the pairs.
        classes: ``[N]`` their classes.
        slot: ``[N]`` each pair's distinct query: an index into ``rows``.
        rows: the ``R`` distinct queries, ascending.
        binary: ``[R, H, W]`` their bool masks (:func:`positive_masks`).
        mask_prob: ``[Q, H, W]`` mask probabilities (``sigmoid(mask_pred)``).
        score_thresh: minimum final score.
    """
    mask_scores = _mask_scores(_inside_sums(mask_prob, rows, binary, len(slot)), binary)
    return _instances(class_scores, classes, slot, binary, mask_scores, score_thresh)


def _instances(
    class_scores: torch.Tensor,
    classes: torch.Tensor,
    slot: torch.Tensor,
    binary: torch.Tensor,
    mask_scores: torch.Tensor,
    score_thresh: float,
) -> Instances:
    """The ``Instances`` of the pairs whose score passes; pair ``n`` has mask ``binary[slot[n]]``."""
    scores = class_scores * mask_scores[slot]
    keep = scores >= score_thresh
    result = Instances(tuple(binary.shape[-2:]))
    kept = slot[keep]
    result.pred_masks = torch.index_select(
        binary, 0, kept, out=empty_for_writing((len(kept), *binary.shape[1:]), binary.dtype, binary.device)
    )
    result.scores = scores[keep]
    result.pred_classes = classes[keep].to(torch.int64)
    result.pred_boxes = masks_to_boxes(binary)[kept]
    return result


def _inside_sums(
    mask_prob: torch.Tensor, rows: list[int], binary: torch.Tensor, num_pairs: int
) -> torch.Tensor:
    """``[R]`` sums of ``mask_prob[rows[i]] * binary[i]``, two rows at a time in one small buffer.

    Each row is summed as a row of a matrix, as the per-pair formula sums it (with several
    threads torch sums a lone row differently): a last odd row is paired with a copy of itself,
    unless a single pair is summed (a lone row then too).
    """
    if not rows:
        return mask_prob.new_zeros(0)
    buffer = mask_prob.new_empty((2, binary[0].numel()))
    sums = []
    for start in range(0, len(rows), 2):
        block = rows[start : start + 2]
        for j, row in enumerate(block):
            torch.mul(mask_prob[row].flatten(), binary[start + j].flatten(), out=buffer[j])
        if len(block) == 1 and num_pairs > 1:
            buffer[1].copy_(buffer[0])
        sums.append(buffer[: 1 if num_pairs == 1 else 2].sum(1)[: len(block)])
    return torch.cat(sums)


def _mask_scores(inside_sums: torch.Tensor, binary: torch.Tensor) -> torch.Tensor:
    """``[R]`` mean probability inside the masks ``binary`` ``[R, H, W]`` (0 for an empty mask).

    ``inside_sums`` ``[R]`` are the sums of ``sigmoid * binary``; the pixel counts are exact
    (counted per mask: a sum over the bool tensor would first copy it to int64).
    """
    counts = [torch.count_nonzero(mask) for mask in binary]
    areas = torch.stack(counts).to(inside_sums.dtype) if counts else torch.zeros_like(inside_sums)
    return inside_sums / (areas + 1e-6)


def _gathered_masks(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary masks ``[N, H, W]`` and mask scores ``[N]`` of the pairs' gathered logits."""
    binary = logits > 0
    inside = logits.sigmoid().mul_(binary)
    return binary, _mask_scores(inside.flatten(1).sum(1), binary)
