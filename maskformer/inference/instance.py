"""Instance inference: top-k (query, class) pairs scored by class and mask confidence."""

from __future__ import annotations

from collections.abc import Collection

import torch

from ..structures import Instances, masks_to_boxes

__all__ = ["instance_inference", "instance_pairs", "instances_of_pairs"]


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
    else:
        distinct, slot = torch.unique(queries, return_inverse=True)  # pair n: distinct[slot[n]]
        binary, mask_scores = _shared_masks(mask_pred, mask_prob, distinct.tolist(), len(queries))
    scores = class_scores * mask_scores[slot]
    keep = scores >= score_thresh
    result = Instances(tuple(mask_pred.shape[-2:]))
    result.pred_masks = binary[slot[keep]]
    result.scores = scores[keep]
    result.pred_classes = classes[keep].to(torch.int64)
    result.pred_boxes = masks_to_boxes(binary)[slot[keep]]
    return result


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


def _shared_masks(
    mask_pred: torch.Tensor, mask_prob: torch.Tensor, rows: list[int], num_pairs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary masks ``[R, H, W]`` and mask scores ``[R]`` of the given rows, one pass per row.

    The sums run over a ``[rows, H*W]`` tensor as in the per-pair formula: with several threads
    torch reduces a lone row differently from each row of a matrix, so a lone row standing for
    several pairs is doubled.
    """
    shape = (len(rows), *mask_pred.shape[-2:])
    binary = torch.empty(shape, dtype=torch.bool, device=mask_pred.device)
    inside = torch.empty(shape, dtype=mask_prob.dtype, device=mask_prob.device)
    for i, row in enumerate(rows):
        torch.gt(mask_pred[row], 0, out=binary[i])
        torch.mul(mask_prob[row], binary[i], out=inside[i])
    inside = inside.flatten(1)
    if len(rows) == 1 and num_pairs > 1:
        inside = inside.repeat(2, 1)
    return binary, _mask_scores(inside.sum(1)[: len(rows)], binary)
