"""Semantic metrics: a hand-computed confusion matrix with an absent class and ignored pixels."""

import json
import math

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image

from maskformer.evaluation.sem_seg import SemSegEvaluator, confusion_matrix, semantic_metrics

NAMES = ["a", "b", "c"]


def test_confusion_matrix_counts_and_ignore():
    pred = np.array([[0, 0, 1], [1, 2, 2]])
    gt = np.array([[0, 1, 1], [255, 2, 0]])
    conf = confusion_matrix(pred, gt, num_classes=3, ignore_label=255)
    expected = np.zeros((4, 4), np.int64)
    for p, g in [(0, 0), (0, 1), (1, 1), (1, 3), (2, 2), (2, 0)]:
        expected[p, g] += 1
    assert np.array_equal(conf, expected)


def test_bad_ground_truth_label_raises():
    with pytest.raises(ValueError, match="ignore_label=255"):
        confusion_matrix(np.zeros((1, 2), int), np.array([[0, 7]]), num_classes=3, ignore_label=255)


def test_metrics_hand_computed():
    """Class c never in the ground truth: NaN IoU/ACC, out of the means; ignored pixels dropped."""
    # M[pred, gt]; gt column 3 = ignored pixels (must not count).
    conf = np.array(
        [
            [3, 1, 0, 5],
            [1, 2, 0, 5],
            [2, 0, 0, 5],
            [0, 0, 0, 0],
        ]
    )
    m = semantic_metrics(conf, NAMES)
    iou_a, iou_b = 3 / (6 + 4 - 3), 2 / (3 + 3 - 2)
    assert m["IoU-a"] == pytest.approx(100 * iou_a)
    assert m["IoU-b"] == pytest.approx(100 * iou_b)
    assert math.isnan(m["IoU-c"]) and math.isnan(m["ACC-c"])
    assert m["mIoU"] == pytest.approx(100 * (iou_a + iou_b) / 2)
    assert m["fwIoU"] == pytest.approx(100 * (6 / 9 * iou_a + 3 / 9 * iou_b))
    assert m["ACC-a"] == pytest.approx(100 * 3 / 6)
    assert m["ACC-b"] == pytest.approx(100 * 2 / 3)
    assert m["mACC"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)
    assert m["pACC"] == pytest.approx(100 * 5 / 9)


def test_evaluator_end_to_end(tmp_path):
    gt = np.array([[0, 0, 1, 1], [0, 255, 1, 2]], np.uint8)
    Image.fromarray(gt).save(tmp_path / "gt.png")
    scores = torch.zeros(3, 2, 4)
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 2, 2]])
    scores.scatter_(0, pred[None], 1.0)
    out_dir = tmp_path / "out"
    evaluator = SemSegEvaluator(
        NAMES,
        gt_files={"img.jpg": str(tmp_path / "gt.png")},
        output_dir=str(out_dir),
        contiguous_id_to_dataset_id={0: 10, 1: 20, 2: 30},
        write_predictions=True,
    )
    evaluator.process([{"file_name": "img.jpg"}], [{"sem_seg": scores}])
    results = evaluator.evaluate()["sem_seg"]
    conf = confusion_matrix(pred.numpy(), gt, 3, 255)
    assert results == pytest.approx(semantic_metrics(conf, NAMES), nan_ok=True)
    assert results["pACC"] == pytest.approx(100 * 5 / 7)
    entries = json.loads((out_dir / "sem_seg_predictions.json").read_text())
    assert [e["category_id"] for e in entries] == [10, 20, 30]
    decoded = mask_util.decode({**entries[1]["segmentation"], "counts": entries[1]["segmentation"]["counts"]})
    assert np.array_equal(decoded.astype(bool), pred.numpy() == 1)
    assert json.loads((out_dir / "sem_seg_evaluation.json").read_text())["sem_seg"]["pACC"] == pytest.approx(
        results["pACC"]
    )


def test_wrong_class_count_names_the_key(tmp_path):
    evaluator = SemSegEvaluator(NAMES, gt_files={"x": "unused"})
    with pytest.raises(ValueError, match="NUM_CLASSES=3"):
        evaluator.process([{"file_name": "x"}], [{"sem_seg": torch.zeros(5, 2, 2)}])
