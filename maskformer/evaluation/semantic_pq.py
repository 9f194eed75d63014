"""PQ^St of a semantic segmentation: every class present in an image is one "stuff" segment.

The MaskFormer and Mask2Former papers report PQ^St beside mIoU for semantic models; the numbers
come from the official ``tools/evaluate_pq_for_semantic_segmentation.py``, whose rules this follows:
per image, the ground-truth segment of class ``k`` is its pixels labelled ``k`` (``ignore_label``
pixels are void), the predicted segment its predicted pixels; they match when
``IoU = |P & G| / (|P| + |G| - |P & G| - |P & void|) > 0.5``. An unmatched ground-truth segment is a
false negative; an unmatched prediction is a false positive unless more than half of it lies on
void. PQ, SQ and RQ are averaged over the classes with at least one TP, FP or FN (panopticapi).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

__all__ = ["pq_from_stats", "semantic_pq_stats"]


def semantic_pq_stats(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_label: int) -> np.ndarray:
    """One image's per-class PQ counts.

    Args:
        pred: ``[H, W]`` predicted labels in ``[0, K)``.
        gt: ``[H, W]`` ground-truth labels in ``[0, K)`` or ``ignore_label``.
        num_classes: ``K``.
        ignore_label: the void label of the ground truth.

    Returns:
        ``[K, 4]`` float64: TP, FP, FN and the summed IoU of the true positives, per class.
    """
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)
    gt = np.asarray(gt, dtype=np.int64).reshape(-1)
    void = gt == ignore_label
    k = num_classes
    gt_area = np.bincount(gt[~void], minlength=k)[:k]
    pred_area = np.bincount(pred, minlength=k)[:k]
    intersection = np.bincount(pred[(pred == gt) & ~void], minlength=k)[:k]
    pred_on_void = np.bincount(pred[void], minlength=k)[:k]
    union = pred_area + gt_area - intersection - pred_on_void
    iou = np.divide(intersection, union, out=np.zeros(k), where=union > 0)
    tp = (gt_area > 0) & (pred_area > 0) & (iou > 0.5)
    fn = (gt_area > 0) & ~tp
    mostly_void = pred_on_void > 0.5 * pred_area
    fp = (pred_area > 0) & ~tp & ~mostly_void
    return np.stack([tp, fp, fn, np.where(tp, iou, 0.0)], axis=1).astype(np.float64)


def pq_from_stats(stats: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """``PQ_St``, ``SQ_St``, ``RQ_St`` and ``PQ_St-<class>`` (percent) from summed per-class counts.

    Args:
        stats: ``[K, 4]`` TP, FP, FN, IoU sums over the dataset (:func:`semantic_pq_stats` summed).
        class_names: the ``K`` class names.

    Returns:
        The metrics; classes with no TP, FP or FN are NaN and not averaged.
    """
    tp, fp, fn, iou = (stats[:, i] for i in range(4))
    counted = tp + fp + fn > 0
    denominator = tp + 0.5 * fp + 0.5 * fn
    pq = np.divide(iou, denominator, out=np.full(len(tp), np.nan), where=counted)
    sq = np.divide(iou, tp, out=np.zeros(len(tp)), where=tp > 0)
    rq = np.divide(tp, denominator, out=np.zeros(len(tp)), where=counted)
    results: dict[str, float] = OrderedDict()
    for name, values in (("PQ_St", pq), ("SQ_St", sq), ("RQ_St", rq)):
        results[name] = 100 * float(values[counted].mean()) if counted.any() else float("nan")
    for name, value in zip(class_names, pq):
        results[f"PQ_St-{name}"] = 100 * float(value)
    return results
