"""COCO instance evaluation: mask AP (``segm``) and box AP from the mask-derived boxes (``bbox``).

Predictions become COCO results (RLE masks, XYWH boxes, scores, category ids mapped back to the
dataset's ids) and are scored by pycocotools' ``COCOeval`` against the dataset's instance JSON,
as Detectron2's ``COCOEvaluator`` does (all images of the JSON are evaluated; for ``segm`` the box
of each result is dropped so that pycocotools derives area and box from the mask).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.datasets.coco_instance_checks import load_coco_api
from ..utils import comm
from .evaluator import DatasetEvaluator
from .testing import print_results_table, save_results_json

__all__ = ["COCOInstanceEvaluator", "evaluate_coco_results", "instances_to_coco_results"]

logger = logging.getLogger(__name__)

_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def instances_to_coco_results(instances: Any, image_id: Any, to_dataset_id: dict[int, int]) -> list[dict]:
    """Converts one image's predicted ``Instances`` to COCO result dicts.

    Args:
        instances: ``Instances`` with ``pred_masks`` bool ``[N, H, W]``, ``scores [N]``,
            ``pred_classes [N]`` (contiguous ids) and ``pred_boxes [N, 4]`` XYXY.
        image_id: the COCO image id.
        to_dataset_id: contiguous class id -> dataset category id.

    Returns:
        ``[{"image_id", "category_id", "bbox" (XYWH), "score", "segmentation" (RLE)}]``.
    """
    if len(instances) == 0:
        return []
    masks = instances.pred_masks.cpu().numpy().astype(np.uint8)
    boxes = instances.pred_boxes.cpu().double().numpy().copy()
    boxes[:, 2:] -= boxes[:, :2]
    scores = instances.scores.cpu().tolist()
    classes = instances.pred_classes.cpu().tolist()
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    results = []
    for k, rle in enumerate(rles):
        if classes[k] not in to_dataset_id:
            raise KeyError(
                f"Predicted class {classes[k]} has no dataset id in the metadata's "
                "thing_dataset_id_to_contiguous_id; instance predictions must be thing classes."
            )
        rle["counts"] = rle["counts"].decode("utf-8")
        results.append(
            {
                "image_id": image_id,
                "category_id": int(to_dataset_id[classes[k]]),
                "bbox": boxes[k].tolist(),
                "score": float(scores[k]),
                "segmentation": rle,
            }
        )
    return results


def evaluate_coco_results(coco_gt: COCO, results: list[dict], iou_type: str) -> dict[str, float]:
    """Runs ``COCOeval`` and returns AP, AP50, AP75, APs, APm, APl and ``AP-<class>`` (percent).

    Args:
        coco_gt: the ground truth.
        results: COCO result dicts (with ``segmentation`` for ``segm``, ``bbox`` for ``bbox``).
        iou_type: ``"segm"`` or ``"bbox"``.

    Returns:
        The metrics; all NaN when there are no results.
    """
    cat_ids = sorted(coco_gt.getCatIds())
    names = [coco_gt.cats[c].get("name", str(c)) for c in cat_ids]
    if not results:
        logger.warning("No %s predictions: every metric is NaN.", iou_type)
        return OrderedDict([(m, float("nan")) for m in _METRICS] + [(f"AP-{n}", float("nan")) for n in names])
    results = copy.deepcopy(results)
    if iou_type == "segm":
        # pycocotools computes area and box from the mask only when the result has no box.
        for r in results:
            r.pop("bbox", None)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        coco_eval.evaluate()
        coco_eval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    logger.info("COCOeval %s:\n%s", iou_type, summary.getvalue())
    metrics = OrderedDict(
        (m, float(coco_eval.stats[i] * 100) if coco_eval.stats[i] >= 0 else float("nan"))
        for i, m in enumerate(_METRICS)
    )
    # precision: [IoU thresholds, recall, category, area range, max dets]; area "all", 100 dets.
    precisions = coco_eval.eval["precision"]
    for k, name in enumerate(names):
        precision = precisions[:, :, k, 0, -1]
        precision = precision[precision > -1]
        metrics[f"AP-{name}"] = float(np.mean(precision) * 100) if precision.size else float("nan")
    return metrics


class COCOInstanceEvaluator(DatasetEvaluator):
    """COCO mask and box AP of instance predictions.

    Args:
        json_file: COCO instance annotations of the dataset.
        thing_contiguous_to_dataset: contiguous class id -> dataset category id.
        output_dir: where ``coco_instances_results.json`` and ``instance_evaluation.json`` go.
        tasks: subset of ``("bbox", "segm")`` to evaluate.
        contiguous_ids_cover_stuff: False (COCO): thing contiguous ids must be ``0..T-1``; True
            (ADE20K panoptic, Mapillary): they are a subset of ids that also cover stuff classes.
    """

    def __init__(
        self,
        json_file: str,
        thing_contiguous_to_dataset: dict[int, int],
        output_dir: str | None = None,
        tasks: Sequence[str] = ("bbox", "segm"),
        contiguous_ids_cover_stuff: bool = False,
    ) -> None:
        ids = sorted(int(k) for k in thing_contiguous_to_dataset)
        if not contiguous_ids_cover_stuff and ids != list(range(len(ids))):
            raise ValueError(
                f"Thing contiguous ids {ids} are not 0..{len(ids) - 1}; for datasets whose contiguous ids "
                "cover stuff classes too pass contiguous_ids_cover_stuff=True."
            )
        unknown = set(tasks) - {"bbox", "segm"}
        if unknown:
            raise ValueError(
                f"Unknown instance evaluation tasks {sorted(unknown)}; use 'bbox' and/or 'segm'."
            )
        self._json_file = json_file
        self._to_dataset_id = {int(k): int(v) for k, v in thing_contiguous_to_dataset.items()}
        self._output_dir = output_dir
        self._tasks = tuple(tasks)
        self.reset()

    @classmethod
    def from_metadata(cls, metadata: Any, contiguous_ids_cover_stuff: bool = False, **kwargs: Any):
        """Builds the evaluator from metadata (``json_file``, ``thing_dataset_id_to_contiguous_id``)."""
        mapping = metadata.thing_dataset_id_to_contiguous_id
        return cls(
            json_file=metadata.json_file,
            thing_contiguous_to_dataset={v: k for k, v in mapping.items()},
            contiguous_ids_cover_stuff=contiguous_ids_cover_stuff,
            **kwargs,
        )

    def reset(self) -> None:
        self._results: list[dict] = []

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Converts each image's ``instances`` to COCO results."""
        for inp, out in zip(inputs, outputs):
            self._results.extend(
                instances_to_coco_results(out["instances"], inp["image_id"], self._to_dataset_id)
            )

    def evaluate(self) -> dict[str, Any]:
        """Gathers results to the main process; returns ``{"bbox": ..., "segm": ...}`` there."""
        parts = comm.gather(self._results)
        if not comm.is_main_process():
            return {}
        results = [r for part in parts for r in part]
        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            with open(os.path.join(self._output_dir, "coco_instances_results.json"), "w") as f:
                json.dump(results, f)
        if not os.path.isfile(self._json_file):
            raise FileNotFoundError(
                f"COCO instance annotations {self._json_file!r} not found (metadata json_file)."
            )
        coco_gt = load_coco_api(self._json_file)
        output = OrderedDict()
        for task in self._tasks:
            output[task] = evaluate_coco_results(coco_gt, results, task)
            print_results_table(task, output[task])
        save_results_json(output, self._output_dir, "instance_evaluation.json")
        return output
