"""COCO panoptic evaluation: prediction PNGs + JSON in COCO panoptic format, and PQ / SQ / RQ.

Each process scores its own images against the ground-truth PNGs as it goes (the per-category
statistics of :mod:`maskformer.evaluation.pq`) and keeps the encoded prediction PNGs; ``evaluate``
gathers both to the main process, which writes ``panoptic_predictions.json`` and the folder
``panoptic_predictions/`` into the output dir (the layout ``pq_compute`` expects by default) and
sums the statistics. The numbers equal ``panopticapi``'s ``pq_compute`` on those files.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..data.datasets.annotation_files import join_inside
from ..data.datasets.coco_panoptic_checks import load_panoptic_json
from ..data.image_io import read_panoptic_ids
from ..utils import comm
from .evaluator import DatasetEvaluator
from .pq import accumulate_stats, id2rgb, pq_average, pq_image_stats
from .testing import print_results_table, save_results_json

__all__ = ["COCOPanopticEvaluator", "decode_label_divisor"]

logger = logging.getLogger(__name__)


def decode_label_divisor(
    panoptic: np.ndarray, label_divisor: int, thing_ids: Sequence[int]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Turns a ``category * label_divisor + instance`` map (-1 = VOID) into ids + segments_info.

    Args:
        panoptic: ``[H, W]`` int panoptic labels; -1 marks VOID.
        label_divisor: the dataset's ``label_divisor``.
        thing_ids: contiguous category ids that are things.

    Returns:
        ``([H, W]`` ids with 0 = VOID (label + 1), ``[{"id", "category_id", "isthing"}])``.
    """
    things = set(int(t) for t in thing_ids)
    segments = []
    for label in np.unique(panoptic).tolist():
        if label == -1:
            continue
        category = label // label_divisor
        segments.append({"id": label + 1, "category_id": category, "isthing": category in things})
    return panoptic.astype(np.int64) + 1, segments


class COCOPanopticEvaluator(DatasetEvaluator):
    """PQ / SQ / RQ (all, things, stuff and per class) of panoptic predictions.

    Args:
        gt_json: COCO panoptic ground-truth JSON (``annotations`` with ``segments_info``,
            ``categories`` with ``isthing``).
        gt_folder: folder of the ground-truth PNGs named by each annotation's ``file_name``.
        thing_contiguous_to_dataset: contiguous thing id -> dataset category id.
        stuff_contiguous_to_dataset: contiguous id -> dataset category id for the other segments
            (Detectron2's ``stuff_dataset_id_to_contiguous_id`` inverted; may cover things too).
        output_dir: where the predictions and ``panoptic_evaluation.json`` go; None: kept in memory.
        label_divisor: decodes outputs whose ``segments_info`` is None (``category * label_divisor +
            instance``, -1 = VOID).
    """

    def __init__(
        self,
        gt_json: str,
        gt_folder: str,
        thing_contiguous_to_dataset: dict[int, int],
        stuff_contiguous_to_dataset: dict[int, int],
        output_dir: str | None = None,
        label_divisor: int = 1000,
    ) -> None:
        self._gt_json_file = gt_json
        self._gt_folder = gt_folder
        # Loaded on first use: datasets generated on first load (e.g. shapes) may not exist yet.
        self._gt_json: dict[str, Any] | None = None
        self._thing_map = {int(k): int(v) for k, v in thing_contiguous_to_dataset.items()}
        self._stuff_map = {int(k): int(v) for k, v in stuff_contiguous_to_dataset.items()}
        self._output_dir = output_dir
        self._label_divisor = label_divisor
        self.reset()

    @classmethod
    def from_metadata(cls, metadata: Any, **kwargs: Any) -> COCOPanopticEvaluator:
        """Builds the evaluator from Detectron2-style metadata (panoptic_json, panoptic_root, id maps)."""
        thing = getattr(metadata, "thing_dataset_id_to_contiguous_id", {}) or {}
        stuff = getattr(metadata, "stuff_dataset_id_to_contiguous_id", {}) or {}
        return cls(
            gt_json=metadata.panoptic_json,
            gt_folder=metadata.panoptic_root,
            thing_contiguous_to_dataset={v: k for k, v in thing.items()},
            stuff_contiguous_to_dataset={v: k for k, v in stuff.items()},
            label_divisor=getattr(metadata, "label_divisor", 1000),
            **kwargs,
        )

    def reset(self) -> None:
        self._predictions: list[dict[str, Any]] = []
        # Per-image statistics, summed on the main process in image-id order so that the float sums
        # (and so the metrics) are bit-identical whatever the number of processes.
        self._stats: list[tuple[str, dict[int, np.ndarray]]] = []
        self._warned_mismatch = False

    def _load_gt(self) -> None:
        if self._gt_json is not None:
            return
        if not os.path.isfile(self._gt_json_file):
            raise FileNotFoundError(
                f"Panoptic ground-truth JSON {self._gt_json_file!r} not found (metadata panoptic_json)."
            )
        if not os.path.isdir(self._gt_folder):
            raise FileNotFoundError(
                f"Panoptic ground-truth folder {self._gt_folder!r} not found (metadata panoptic_root)."
            )
        self._gt_json = load_panoptic_json(self._gt_json_file)
        self._categories = {c["id"]: c for c in self._gt_json["categories"]}
        self._gt_by_image = {str(a["image_id"]): a for a in self._gt_json["annotations"]}
        self._gt_by_stem = {os.path.splitext(a["file_name"])[0]: a for a in self._gt_json["annotations"]}

    def _gt_annotation(self, inp: dict[str, Any]) -> dict[str, Any]:
        self._load_gt()
        ann = self._gt_by_image.get(str(inp.get("image_id")))
        if ann is None and "file_name" in inp:
            ann = self._gt_by_stem.get(os.path.splitext(os.path.basename(inp["file_name"]))[0])
        if ann is None:
            raise KeyError(
                f"Image {inp.get('image_id')!r} ({inp.get('file_name')}) has no annotation in the panoptic "
                "ground-truth JSON; the evaluator's dataset and the data loader's must match."
            )
        return ann

    def _warn_gt_mismatch(self, gt_ids: np.ndarray, ann: dict[str, Any]) -> None:
        """Warns (once) when a ground-truth PNG and its segments_info list different segment ids."""
        present = set(np.unique(gt_ids).tolist()) - {0}
        listed = {s["id"] for s in ann["segments_info"]}
        if self._warned_mismatch or present == listed:
            return
        self._warned_mismatch = True
        logger.warning(
            "Ground-truth PNG '%s' and its segments_info disagree: segment id(s) %s not in segments_info "
            "(ignored, as panopticapi does), %s listed without pixels (counted as missed). "
            "python -m maskformer.data.validation lists every such image.",
            ann["file_name"],
            sorted(present - listed)[:5],
            sorted(listed - present)[:5],
        )

    def _to_dataset_id(self, segment: dict[str, Any]) -> int:
        mapping = self._thing_map if segment.get("isthing", False) else self._stuff_map
        category = int(segment["category_id"])
        if category not in mapping:
            kind = "thing" if segment.get("isthing", False) else "stuff"
            raise KeyError(f"Predicted {kind} category {category} has no dataset id in the metadata id maps.")
        return mapping[category]

    def _convert(self, output: dict[str, Any]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Model output to (``[H, W]`` ids, segments with dataset category ids)."""
        panoptic, segments = output["panoptic_seg"]
        panoptic = panoptic.cpu().numpy() if hasattr(panoptic, "cpu") else np.asarray(panoptic)
        if segments is None:
            panoptic, segments = decode_label_divisor(panoptic, self._label_divisor, self._thing_map)
        converted = [
            {
                "id": int(s["id"]),
                "category_id": self._to_dataset_id(s),
                "isthing": bool(s.get("isthing", False)),
            }
            for s in segments
        ]
        return panoptic.astype(np.int64), converted

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Scores each image's ``panoptic_seg`` against its ground truth and keeps the PNG."""
        for inp, out in zip(inputs, outputs):
            ann = self._gt_annotation(inp)
            pred_ids, segments = self._convert(out)
            where = f"'{self._gt_json_file}' annotation of image {ann['image_id']!r}"
            gt_ids = read_panoptic_ids(join_inside(self._gt_folder, ann["file_name"], where))
            self._warn_gt_mismatch(gt_ids, ann)
            if gt_ids.shape != pred_ids.shape:
                raise ValueError(
                    f"Panoptic prediction {pred_ids.shape} and ground truth {gt_ids.shape} of image "
                    f"{ann['image_id']} differ in size; predict at the original height/width."
                )
            stats = pq_image_stats(gt_ids, ann["segments_info"], pred_ids, segments, ann["image_id"])
            self._stats.append((str(ann["image_id"]), stats))
            buffer = io.BytesIO()
            Image.fromarray(id2rgb(pred_ids)).save(buffer, format="PNG")
            file_name = os.path.splitext(ann["file_name"])[0] + ".png"
            self._predictions.append(
                {
                    "image_id": ann["image_id"],
                    "file_name": file_name,
                    "png": buffer.getvalue(),
                    "segments_info": segments,
                }
            )

    def _write_predictions(self, predictions: list[dict[str, Any]]) -> None:
        """Writes ``panoptic_predictions.json`` and ``panoptic_predictions/*.png`` (COCO format)."""
        folder = os.path.join(self._output_dir, "panoptic_predictions")
        os.makedirs(folder, exist_ok=True)
        for pred in predictions:
            where = f"prediction of image {pred['image_id']!r}"
            with open(join_inside(folder, pred["file_name"], where), "wb") as f:
                f.write(pred["png"])
        pred_json = copy.copy(self._gt_json)
        pred_json["annotations"] = [{k: v for k, v in p.items() if k != "png"} for p in predictions]
        with open(os.path.join(self._output_dir, "panoptic_predictions.json"), "w") as f:
            json.dump(pred_json, f)

    def evaluate(self) -> dict[str, Any]:
        """Gathers statistics and PNGs to the main process; returns ``{"panoptic_seg": metrics}`` there."""
        all_stats = comm.gather(self._stats)
        all_predictions = comm.gather(self._predictions)
        if not comm.is_main_process():
            return {}
        self._load_gt()
        stats: dict[int, np.ndarray] = {}
        for _, image_stats in sorted((item for part in all_stats for item in part), key=lambda x: x[0]):
            accumulate_stats(stats, image_stats)
        predictions = sorted((p for part in all_predictions for p in part), key=lambda p: str(p["image_id"]))
        missing = len(self._gt_by_image) - len({str(p["image_id"]) for p in predictions})
        if missing > 0:
            logger.warning("%d images of the panoptic ground truth were not evaluated.", missing)
        if self._output_dir:
            self._write_predictions(predictions)
        results = OrderedDict(panoptic_seg=self._metrics(stats))
        print_results_table("panoptic_seg", results["panoptic_seg"])
        save_results_json(results, self._output_dir, "panoptic_evaluation.json")
        return results

    def _metrics(self, stats: dict[int, np.ndarray]) -> dict[str, float]:
        """PQ/SQ/RQ overall (``PQ``), things (``PQ_th``), stuff (``PQ_st``) and per class, in percent."""
        unknown = set(stats) - set(self._categories)
        if unknown:
            raise KeyError(
                f"Predicted category ids {sorted(unknown)} are not in the ground-truth categories."
            )
        metrics: dict[str, float] = OrderedDict()
        per_class: dict[int, dict[str, float]] = {}
        for suffix, isthing in (("", None), ("_th", True), ("_st", False)):
            summary, classes = pq_average(stats, self._categories, isthing)
            per_class = per_class or classes
            for key in ("pq", "sq", "rq"):
                metrics[key.upper() + suffix] = 100 * summary[key]
        for cat, values in per_class.items():
            name = self._categories[cat].get("name", str(cat))
            for key in ("pq", "sq", "rq"):
                metrics[f"{key.upper()}-{name}"] = 100 * values[key]
        return metrics
