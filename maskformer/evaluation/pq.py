"""Panoptic quality (PQ, SQ, RQ) with the COCO panoptic rules, vectorised per image.

The rules are those of the COCO panoptic API (``panopticapi.evaluation.pq_compute``):

- segment id 0 in the ground truth is VOID; ground-truth ids present in the PNG but not in the
  annotation are ignored; the ground-truth area is the annotation's ``area``;
- a (gt, pred) pair of the same category is a true positive when IoU > 0.5, where the union leaves
  out the prediction's VOID pixels; crowd ground-truth segments are never matched;
- unmatched non-crowd ground-truth segments are false negatives;
- an unmatched prediction is a false positive unless more than half of its area lies on VOID
  plus the crowd segment of its category (the last crowd segment listed for that category, as in
  the COCO API).

Each image is scored from one ``np.unique`` over (gt id, pred id) pixel codes: the distinct pairs
and their counts give the whole intersection matrix at once (one ``bincount``); no Python loop runs
over pairs of segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["accumulate_stats", "id2rgb", "pq_average", "pq_image_stats", "rgb2id"]

# Row layout of the per-category statistics: summed IoU of true positives, TP, FP, FN.
_IOU, _TP, _FP, _FN = range(4)


def rgb2id(color: np.ndarray) -> np.ndarray:
    """COCO panoptic PNG colours ``[H, W, 3]`` to segment ids ``[H, W]`` (``R + 256 G + 256² B``).

    Raises:
        ValueError: ``color`` is not ``[..., 3]`` (a gray or RGBA map would decode to wrong ids).
    """
    color = np.asarray(color, dtype=np.int64)
    if color.ndim < 3 or color.shape[-1] != 3:
        raise ValueError(
            f"Panoptic colours must be [H, W, 3] (an RGB panoptic PNG), got shape {tuple(color.shape)}. "
            "Fix: write panoptic PNGs in RGB with ids encoded as R + 256 G + 256^2 B."
        )
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids ``[H, W]`` (< 2**24) to COCO panoptic PNG colours ``[H, W, 3]`` uint8."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([ids % 256, (ids // 256) % 256, (ids // 65536) % 256], axis=-1).astype(np.uint8)


def _segment_index(values: np.ndarray, segment_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each of ``values`` in ``segment_ids`` (a repeated id refers to its last entry).

    Returns:
        ``(index, found)``: int64 positions (valid where found) and a bool mask, shaped like ``values``.
    """
    if len(segment_ids) == 0:
        return np.zeros(values.shape, np.int64), np.zeros(values.shape, bool)
    # Reversed stable sort so that searchsorted lands on the last of repeated ids, as a dict would.
    order = len(segment_ids) - 1 - np.argsort(segment_ids[::-1], kind="stable")
    sorted_ids = segment_ids[order]
    pos = np.searchsorted(sorted_ids, values).clip(max=len(sorted_ids) - 1)
    return order[pos], sorted_ids[pos] == values


def _pair_counts(gt_ids: np.ndarray, pred_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (gt id, pred id) pixel pairs and their counts, from one pass over the pixels."""
    gt_flat = gt_ids.reshape(-1).astype(np.int64, copy=False)
    pred_flat = pred_ids.reshape(-1).astype(np.int64, copy=False)
    if gt_flat.size and min(gt_flat.min(), pred_flat.min()) < 0:
        raise ValueError("Panoptic segment ids must be >= 0 (0 = VOID).")
    offset = int(pred_flat.max()) + 1 if pred_flat.size else 1
    codes, counts = np.unique(gt_flat * offset + pred_flat, return_counts=True)
    return codes // offset, codes % offset, counts.astype(np.float64)


def _check_prediction(
    unlisted: np.ndarray, pred_area: np.ndarray, pred_seg_ids: np.ndarray, image_id
) -> None:
    """Errors like the COCO API when the PNG and the segments_info disagree."""
    if len(unlisted):
        raise KeyError(
            f"In the image with ID {image_id} segment IDs {sorted(set(unlisted.tolist()))} are in the PNG "
            "but not in segments_info."
        )
    if (pred_area == 0).any():
        raise KeyError(
            f"In the image with ID {image_id} segment IDs {pred_seg_ids[pred_area == 0].tolist()} are in "
            "segments_info but have no pixel in the PNG."
        )


def _crowd_for_prediction(gt_cats: np.ndarray, gt_crowd: np.ndarray, pred_cats: np.ndarray) -> np.ndarray:
    """For each prediction, the index of the last crowd gt segment of its category, or -1."""
    crowd_of_cat = {int(c): i for i, c in enumerate(gt_cats) if gt_crowd[i]}
    return np.array([crowd_of_cat.get(int(c), -1) for c in pred_cats], dtype=np.int64)


def pq_image_stats(
    gt_ids: np.ndarray,
    gt_segments: Sequence[dict[str, Any]],
    pred_ids: np.ndarray,
    pred_segments: Sequence[dict[str, Any]],
    image_id: Any = None,
) -> dict[int, np.ndarray]:
    """Per-category PQ statistics of one image.

    Args:
        gt_ids: ``[H, W]`` ground-truth segment ids (0 = VOID).
        gt_segments: ``[{"id", "category_id", "iscrowd", "area"}]`` (``area`` defaults to the PNG count).
        pred_ids: ``[H, W]`` predicted segment ids (0 = VOID).
        pred_segments: ``[{"id", "category_id"}]``, every id present in ``pred_ids``.
        image_id: only used in error messages.

    Returns:
        ``{category_id: float64 [4]}`` holding (summed IoU of TPs, TP, FP, FN).
    """
    gt_seg_ids = np.array([s["id"] for s in gt_segments], dtype=np.int64)
    gt_cats = np.array([s["category_id"] for s in gt_segments], dtype=np.int64)
    gt_crowd = np.array([s.get("iscrowd", 0) == 1 for s in gt_segments], dtype=bool)
    pred_seg_ids = np.array([s["id"] for s in pred_segments], dtype=np.int64)
    pred_cats = np.array([s["category_id"] for s in pred_segments], dtype=np.int64)
    num_gt, num_pred = len(gt_seg_ids), len(pred_seg_ids)

    if gt_ids.shape != pred_ids.shape:
        raise ValueError(
            f"Image {image_id}: ground truth {gt_ids.shape} and prediction {pred_ids.shape} differ."
        )
    pair_gt, pair_pred, pair_count = _pair_counts(gt_ids, pred_ids)
    # Gt index: 0..G-1 segments, G = VOID, G + 1 = ids missing from the annotation (ignored).
    gt_index, gt_found = _segment_index(pair_gt, gt_seg_ids)
    gt_index = np.where(gt_found, gt_index, np.where(pair_gt == 0, num_gt, num_gt + 1))
    # Pred index: 0..P-1 segments, P = VOID.
    pred_index, pred_found = _segment_index(pair_pred, pred_seg_ids)
    pred_index = np.where(pred_found, pred_index, num_pred)
    cols = num_pred + 1
    inter = np.bincount(gt_index * cols + pred_index, weights=pair_count, minlength=(num_gt + 2) * cols)
    inter = inter.reshape(num_gt + 2, cols)
    pred_area = inter[:, :num_pred].sum(axis=0)
    _check_prediction(pair_pred[~pred_found & (pair_pred != 0)], pred_area, pred_seg_ids, image_id)
    gt_area = np.array(
        [s["area"] if "area" in s else inter[i].sum() for i, s in enumerate(gt_segments)], dtype=np.float64
    )

    pair_inter = inter[:num_gt, :num_pred]  # [G, P]
    pred_void = inter[num_gt, :num_pred]  # [P]
    candidate = (pair_inter > 0) & (gt_cats[:, None] == pred_cats[None, :]) & ~gt_crowd[:, None]
    union = gt_area[:, None] + pred_area[None, :] - pair_inter - pred_void[None, :]
    iou = np.divide(pair_inter, union, out=np.zeros_like(pair_inter), where=candidate)
    matched = candidate & (iou > 0.5)

    gt_matched = matched.any(axis=1)
    pred_matched = matched.any(axis=0)
    crowd_idx = _crowd_for_prediction(gt_cats, gt_crowd, pred_cats)
    crowd_inter = np.where(crowd_idx >= 0, inter[crowd_idx.clip(min=0), np.arange(num_pred)], 0.0)
    ignored = (pred_void + crowd_inter) / np.maximum(pred_area, 1.0) > 0.5
    fp = ~pred_matched & ~ignored
    fn = ~gt_matched & ~gt_crowd

    cats = np.unique(np.concatenate([gt_cats, pred_cats]))
    gt_pos = np.searchsorted(cats, gt_cats)
    pred_pos = np.searchsorted(cats, pred_cats)
    stats = np.zeros((len(cats), 4), dtype=np.float64)
    stats[:, _IOU] = np.bincount(gt_pos, weights=(iou * matched).sum(axis=1), minlength=len(cats))
    stats[:, _TP] = np.bincount(gt_pos, weights=gt_matched.astype(np.float64), minlength=len(cats))
    stats[:, _FN] = np.bincount(gt_pos, weights=fn.astype(np.float64), minlength=len(cats))
    stats[:, _FP] = np.bincount(pred_pos, weights=fp.astype(np.float64), minlength=len(cats))
    return {int(c): stats[i] for i, c in enumerate(cats)}


def accumulate_stats(total: dict[int, np.ndarray], stats: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Adds per-category statistics ``stats`` into ``total`` (in place) and returns it."""
    for cat, values in stats.items():
        if cat in total:
            total[cat] = total[cat] + values
        else:
            total[cat] = values.copy()
    return total


def pq_average(
    stats: dict[int, np.ndarray], categories: dict[int, dict[str, Any]], isthing: bool | None
) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """PQ, SQ, RQ averaged over categories (all, things or stuff), as the COCO API does.

    Args:
        stats: ``{category_id: [iou_sum, tp, fp, fn]}`` summed over the dataset.
        categories: ``{category_id: {"isthing": 0/1, ...}}`` (the ground-truth categories).
        isthing: True: things only; False: stuff only; None: all categories.

    Returns:
        ``({"pq", "sq", "rq", "n"}, {category_id: {"pq", "sq", "rq"}})`` as fractions; a category
        with no TP, FP or FN gets zeros and is not averaged (``n`` counts the averaged ones); with
        ``n == 0`` the averages are NaN.
    """
    totals = np.zeros(3)
    n = 0
    per_class: dict[int, dict[str, float]] = {}
    for cat, info in categories.items():
        if isthing is not None and (info["isthing"] == 1) != isthing:
            continue
        iou, tp, fp, fn = stats.get(cat, np.zeros(4))
        if tp + fp + fn == 0:
            per_class[cat] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        n += 1
        denom = tp + 0.5 * fp + 0.5 * fn
        values = (iou / denom, iou / tp if tp != 0 else 0.0, tp / denom)
        per_class[cat] = dict(zip(("pq", "sq", "rq"), map(float, values)))
        totals += values
    summary = dict(zip(("pq", "sq", "rq"), (totals / n if n else np.full(3, np.nan)).tolist()))
    summary["n"] = n
    return summary, per_class
