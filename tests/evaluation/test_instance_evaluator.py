"""COCO instance evaluation: equality with pycocotools called directly, and a hand-made box AP."""

import contextlib
import io
import math

import numpy as np
import pycocotools.mask as mask_util
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from maskformer.evaluation.instance import COCOInstanceEvaluator
from tests.helpers.coco_instances import TO_DATASET, pred_instances, rect, write_instance_gt


def test_handmade_box_and_mask_ap(tmp_path):
    """A 10x10 gt and an 8x8 prediction inside it: IoU 0.64, matched at IoU 0.50, 0.55, 0.60 only."""
    json_file = write_instance_gt(tmp_path, [[(rect(5, 5, 10, 10), 3)]])
    evaluator = COCOInstanceEvaluator(json_file, TO_DATASET, output_dir=str(tmp_path / "out"))
    evaluator.process([{"image_id": 0}], [{"instances": pred_instances([rect(6, 6, 8, 8)], [0.9], [0])}])
    results = evaluator.evaluate()
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == pytest.approx(30.0)
        assert results[task]["AP50"] == pytest.approx(100.0)
        assert results[task]["AP75"] == pytest.approx(0.0)
        assert results[task]["APs"] == pytest.approx(30.0)
        assert math.isnan(results[task]["APl"])
        assert results[task]["AP-car"] == pytest.approx(30.0)
        assert math.isnan(results[task]["AP-bus"])


def _direct_pycocotools(json_file, predictions, iou_type):
    """Independent oracle: encode and evaluate with pycocotools only."""
    results = []
    for image_id, (masks, scores, classes) in enumerate(predictions):
        for mask, score, cls in zip(masks, scores, classes):
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            entry = {
                "image_id": image_id,
                "category_id": TO_DATASET[cls],
                "score": score,
                "segmentation": rle,
            }
            if iou_type == "bbox":
                entry = {"image_id": image_id, "category_id": TO_DATASET[cls], "score": score}
                entry["bbox"] = mask_util.toBbox(rle).tolist()
            results.append(entry)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(json_file)
        coco_eval = COCOeval(gt, gt.loadRes(results), iou_type)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


def test_equals_pycocotools(tmp_path):
    rng = np.random.default_rng(1)
    gts, predictions = [], []
    for _ in range(4):
        objects = [
            (rect(*rng.integers(0, 20, 2), *rng.integers(4, 20, 2)), int(rng.choice([3, 7])))
            for _ in range(3)
        ]
        gts.append(objects)
        masks, scores, classes = [], [], []
        for mask, cat in objects:
            if rng.random() < 0.8:
                masks.append(np.roll(mask, int(rng.integers(0, 4)), axis=1))
                scores.append(float(rng.random()))
                classes.append(0 if cat == 3 else 1)
        masks.append(rect(*rng.integers(0, 30, 2), 6, 6))
        scores.append(float(rng.random()))
        classes.append(int(rng.integers(0, 2)))
        predictions.append((masks, scores, classes))
    json_file = write_instance_gt(tmp_path, gts)
    evaluator = COCOInstanceEvaluator(json_file, TO_DATASET)
    for image_id, (masks, scores, classes) in enumerate(predictions):
        evaluator.process([{"image_id": image_id}], [{"instances": pred_instances(masks, scores, classes)}])
    results = evaluator.evaluate()
    for task in ("segm", "bbox"):
        stats = _direct_pycocotools(json_file, predictions, task)
        for i, name in enumerate(("AP", "AP50", "AP75", "APs", "APm", "APl")):
            expected = stats[i] * 100 if stats[i] >= 0 else float("nan")
            assert results[task][name] == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_sparse_contiguous_ids(tmp_path):
    """ADE20K-panoptic style: thing contiguous ids are a subset of ids that also cover stuff."""
    json_file = write_instance_gt(tmp_path, [[(rect(0, 0, 10, 10), 7)]])
    with pytest.raises(ValueError, match="contiguous_ids_cover_stuff"):
        COCOInstanceEvaluator(json_file, {4: 3, 9: 7})
    evaluator = COCOInstanceEvaluator(json_file, {4: 3, 9: 7}, contiguous_ids_cover_stuff=True)
    evaluator.process([{"image_id": 0}], [{"instances": pred_instances([rect(0, 0, 10, 10)], [1.0], [9])}])
    assert evaluator.evaluate()["segm"]["AP"] == pytest.approx(100.0)
    evaluator.reset()
    with pytest.raises(KeyError, match="no dataset id"):
        evaluator.process([{"image_id": 0}], [{"instances": pred_instances([rect(0, 0, 4, 4)], [1.0], [5])}])


def test_no_predictions_gives_nan(tmp_path):
    json_file = write_instance_gt(tmp_path, [[(rect(0, 0, 10, 10), 7)]])
    evaluator = COCOInstanceEvaluator(json_file, TO_DATASET)
    evaluator.process([{"image_id": 0}], [{"instances": pred_instances([], [], [])}])
    assert math.isnan(evaluator.evaluate()["segm"]["AP"])
