"""Semantic segmentation evaluation: confusion matrix, mIoU, fwIoU, mACC, pACC, per-class IoU/ACC.

Numbers follow Detectron2's ``SemSegEvaluator``: a class that never appears in the ground truth
gets NaN IoU and accuracy and is left out of the means; pixels labelled ``ignore_label`` in the
ground truth are not counted. Values are percentages (0-100).
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from ..data.image_io import read_label_map
from ..utils import comm
from .evaluator import DatasetEvaluator
from .semantic_pq import pq_from_stats, semantic_pq_stats
from .testing import print_results_table, save_results_json

__all__ = ["SemSegEvaluator", "confusion_matrix", "semantic_metrics"]

logger = logging.getLogger(__name__)


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_label: int) -> np.ndarray:
    """Counts (prediction, ground truth) label pairs with one bincount.

    Args:
        pred: ``[H, W]`` int predicted labels in ``[0, K)``.
        gt: ``[H, W]`` int ground-truth labels in ``[0, K)`` or ``ignore_label``.
        num_classes: ``K``.
        ignore_label: ground-truth value of pixels that are not evaluated.

    Returns:
        ``[K + 1, K + 1]`` int64 matrix ``M[pred, gt]``; the last column counts predictions on
        ignored pixels (dropped by the metrics), the last row is always zero.
    """
    pred = np.asarray(pred, dtype=np.int64)
    gt = np.asarray(gt, dtype=np.int64).copy()
    if pred.shape != gt.shape:
        raise ValueError(f"Prediction shape {pred.shape} differs from ground-truth shape {gt.shape}.")
    gt[gt == ignore_label] = num_classes
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"Predicted labels must lie in [0, {num_classes}); got {pred.min()}..{pred.max()}.")
    bad = (gt < 0) | (gt > num_classes)
    if bad.any():
        raise ValueError(
            f"Ground-truth labels must lie in [0, {num_classes}) or equal ignore_label={ignore_label}; "
            f"found {sorted(set(np.unique(gt[bad]).tolist()))}. Check the dataset's ignore_label and classes."
        )
    size = num_classes + 1
    counts = np.bincount(size * pred.reshape(-1) + gt.reshape(-1), minlength=size * size)
    return counts.reshape(size, size)


def semantic_metrics(conf: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """mIoU, fwIoU, mACC, pACC and per-class IoU / ACC from a confusion matrix.

    Args:
        conf: ``[K + 1, K + 1]`` matrix from :func:`confusion_matrix` (``M[pred, gt]``).
        class_names: ``K`` names, used in the per-class keys ``IoU-<name>`` and ``ACC-<name>``.

    Returns:
        Ordered ``{"mIoU", "fwIoU", "IoU-<name>"..., "mACC", "pACC", "ACC-<name>"...}`` in percent;
        classes absent from the ground truth have NaN IoU/ACC and are not averaged.
    """
    num_classes = len(class_names)
    conf = np.asarray(conf, dtype=np.float64)[:num_classes, :num_classes]
    tp = np.diagonal(conf)
    pos_gt = conf.sum(axis=0)
    pos_pred = conf.sum(axis=1)
    total_gt = pos_gt.sum()
    class_weights = pos_gt / max(total_gt, 1.0)
    acc = np.full(num_classes, np.nan)
    iou = np.full(num_classes, np.nan)
    acc_valid = pos_gt > 0
    acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
    union = pos_gt + pos_pred - tp
    iou_valid = acc_valid & (union > 0)
    iou[iou_valid] = tp[iou_valid] / union[iou_valid]
    results: dict[str, float] = OrderedDict()
    results["mIoU"] = 100 * float(np.mean(iou[iou_valid])) if iou_valid.any() else float("nan")
    results["fwIoU"] = 100 * float(np.sum(iou[iou_valid] * class_weights[iou_valid]))
    for name, value in zip(class_names, iou):
        results[f"IoU-{name}"] = 100 * float(value)
    results["mACC"] = 100 * float(np.mean(acc[acc_valid])) if acc_valid.any() else float("nan")
    results["pACC"] = 100 * float(tp.sum() / total_gt) if total_gt > 0 else float("nan")
    for name, value in zip(class_names, acc):
        results[f"ACC-{name}"] = 100 * float(value)
    return results


def _encode_prediction(pred: np.ndarray, file_name: str, to_dataset_id: dict[int, int] | None) -> list[dict]:
    """Detectron2's ``sem_seg_predictions.json`` entries: one RLE per label present in ``pred``."""
    entries = []
    for label in np.unique(pred).tolist():
        mask = np.asfortranarray((pred == label)[:, :, None].astype(np.uint8))
        rle = mask_util.encode(mask)[0]
        rle["counts"] = rle["counts"].decode("utf-8")
        category = to_dataset_id[label] if to_dataset_id is not None else label
        entries.append({"file_name": file_name, "category_id": int(category), "segmentation": rle})
    return entries


class SemSegEvaluator(DatasetEvaluator):
    """Semantic segmentation metrics over a dataset (distributed: gathered to the main process).

    Ground truth is the label PNG named by the input's ``sem_seg_file_name`` (the test mapper passes
    the dataset dict's fields through), or found by ``file_name`` in ``gt_files``.

    Args:
        class_names: the ``K`` class names (``stuff_classes``); the model's ``sem_seg`` has ``K``
            channels.
        ignore_label: ground-truth value that is not evaluated.
        gt_files: optional ``{image file_name: label PNG path}``.
        output_dir: where ``sem_seg_evaluation.json`` (and the predictions) are written; None: nowhere.
        contiguous_id_to_dataset_id: maps labels back to dataset ids in the predictions JSON.
        write_predictions: write ``sem_seg_predictions.json`` (Detectron2's RLE format) to ``output_dir``.
        semantic_pq: also report ``PQ_St`` / ``SQ_St`` / ``RQ_St`` (one segment per class and image,
            see ``semantic_pq.py``), as the papers do for semantic models (``TEST.SEMANTIC_PQ``).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        ignore_label: int = 255,
        gt_files: dict[str, str] | None = None,
        output_dir: str | None = None,
        contiguous_id_to_dataset_id: dict[int, int] | None = None,
        write_predictions: bool = False,
        semantic_pq: bool = False,
    ) -> None:
        self._class_names = list(class_names)
        self._num_classes = len(self._class_names)
        self._ignore_label = ignore_label
        self._gt_files = dict(gt_files or {})
        self._output_dir = output_dir
        self._to_dataset_id = contiguous_id_to_dataset_id
        self._write_predictions = write_predictions and output_dir is not None
        self._semantic_pq = semantic_pq
        self.reset()

    @classmethod
    def from_metadata(cls, metadata: Any, dataset_dicts: Sequence[dict] | None = None, **kwargs: Any):
        """Builds the evaluator from a dataset's metadata (``stuff_classes``, ``ignore_label``, ...)."""
        stuff_map = getattr(metadata, "stuff_dataset_id_to_contiguous_id", None)
        gt_files = {
            d["file_name"]: d["sem_seg_file_name"] for d in dataset_dicts or [] if "sem_seg_file_name" in d
        }
        return cls(
            class_names=metadata.stuff_classes,
            ignore_label=getattr(metadata, "ignore_label", 255),
            gt_files=gt_files,
            contiguous_id_to_dataset_id={v: k for k, v in stuff_map.items()} if stuff_map else None,
            **kwargs,
        )

    def reset(self) -> None:
        self._conf = np.zeros((self._num_classes + 1, self._num_classes + 1), dtype=np.int64)
        self._pq_stats = np.zeros((self._num_classes, 4))
        self._predictions: list[dict] = []

    def _gt_file(self, inp: dict[str, Any]) -> str:
        path = inp.get("sem_seg_file_name") or self._gt_files.get(inp.get("file_name", ""))
        if path is None:
            raise KeyError(
                f"No semantic ground truth for image {inp.get('file_name')!r}: its input dict has no "
                "'sem_seg_file_name' and gt_files does not list it."
            )
        return path

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Adds each image's ``sem_seg`` argmax to the confusion matrix."""
        for inp, out in zip(inputs, outputs):
            scores = out["sem_seg"]
            if scores.shape[0] != self._num_classes:
                raise ValueError(
                    f"The model predicts {scores.shape[0]} semantic classes but the dataset has "
                    f"{self._num_classes}; set MODEL.SEM_SEG_HEAD.NUM_CLASSES={self._num_classes}."
                )
            pred = scores.argmax(dim=0).cpu().numpy().astype(np.int64)
            gt_path = self._gt_file(inp)
            gt = read_label_map(gt_path)
            if gt.shape != pred.shape:
                raise ValueError(
                    f"Prediction {pred.shape} and ground truth {gt.shape} ({gt_path}) differ in size; "
                    "the model must return sem_seg at the input's original height/width."
                )
            try:
                self._conf += confusion_matrix(pred, gt, self._num_classes, self._ignore_label)
            except ValueError as e:
                raise ValueError(f"Ground truth '{gt_path}': {e}") from None
            if self._semantic_pq:
                self._pq_stats += semantic_pq_stats(pred, gt, self._num_classes, self._ignore_label)
            if self._write_predictions:
                self._predictions.extend(_encode_prediction(pred, inp["file_name"], self._to_dataset_id))

    def evaluate(self) -> dict[str, Any]:
        """Gathers confusion matrices to the main process; returns ``{"sem_seg": metrics}`` there."""
        confs = comm.gather(self._conf)
        pq_stats = comm.gather(self._pq_stats)
        predictions = comm.gather(self._predictions) if self._write_predictions else []
        if not comm.is_main_process():
            return {}
        conf = np.sum(confs, axis=0)
        if self._write_predictions:
            os.makedirs(self._output_dir, exist_ok=True)
            with open(os.path.join(self._output_dir, "sem_seg_predictions.json"), "w") as f:
                json.dump([p for part in predictions for p in part], f)
        results = OrderedDict(sem_seg=semantic_metrics(conf, self._class_names))
        if self._semantic_pq:
            results["sem_seg"].update(pq_from_stats(np.sum(pq_stats, axis=0), self._class_names))
        print_results_table("sem_seg", results["sem_seg"])
        save_results_json(results, self._output_dir, "sem_seg_evaluation.json")
        return results
