"""Instance inference: top-k (query, class) pairs scored by class and mask confidence."""

from __future__ import annotations

from collections.abc import Collection

import torch

from ..structures import Instances, masks_to_boxes

__all__ = ["instance_inference"]


def instance_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    thing_ids: Collection[int] | None,
    panoptic_on: bool,
    topk: int,
    score_thresh: float = 0.0,
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

    Returns:
        ``Instances((H, W))`` with ``pred_masks`` bool ``[N, H, W]``, ``scores`` ``[N]``,
        ``pred_classes`` int64 ``[N]``, ``pred_boxes`` float ``[N, 4]`` XYXY.
    """
    num_queries, num_classes = mask_cls.shape[0], mask_cls.shape[-1] - 1
    probs = mask_cls.softmax(-1)[:, :-1]  # [Q, K]
    # Flattened pair index = query * K + class.
    class_scores, pair_idx = probs.flatten().topk(min(topk, num_queries * num_classes), sorted=True)
    classes = pair_idx % num_classes
    query_idx = pair_idx // num_classes
    if panoptic_on and thing_ids is not None:
        is_thing = torch.zeros(num_classes, dtype=torch.bool, device=mask_cls.device)
        is_thing[[int(i) for i in thing_ids]] = True
        keep = is_thing[classes]
        class_scores, classes, query_idx = class_scores[keep], classes[keep], query_idx[keep]

    logits = mask_pred[query_idx]  # [N, H, W]
    binary = logits > 0
    inside = binary.flatten(1).to(logits.dtype)
    mask_scores = (logits.sigmoid().flatten(1) * inside).sum(1) / (inside.sum(1) + 1e-6)
    scores = class_scores * mask_scores
    keep = scores >= score_thresh
    result = Instances(tuple(mask_pred.shape[-2:]))
    result.pred_masks = binary[keep]
    result.scores = scores[keep]
    result.pred_classes = classes[keep].to(torch.int64)
    result.pred_boxes = masks_to_boxes(binary[keep])
    return result
