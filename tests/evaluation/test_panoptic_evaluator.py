"""PQ / SQ / RQ: hand-made values and equality with panopticapi's pq_compute on generated files."""

import os

import numpy as np
import pytest

from maskformer.evaluation.panoptic import COCOPanopticEvaluator, decode_label_divisor
from maskformer.evaluation.pq import id2rgb, pq_average, pq_image_stats, rgb2id
from tests.helpers.coco_panoptic import (
    CATEGORIES,
    STUFF_TO_DATASET,
    THING_TO_DATASET,
    make_panoptic_gt,
    panoptic_output,
    perturb_panoptic,
    write_panoptic_gt,
)


def test_rgb_id_round_trip():
    ids = np.array([[0, 1, 255], [256, 65536, 2**24 - 1]])
    assert np.array_equal(rgb2id(id2rgb(ids)), ids)


def test_pq_image_stats_handmade():
    """One TP (IoU 0.75 counting void), one FN, one FP, one FP ignored on crowd, void handling."""
    gt = np.zeros((4, 8), np.int64)
    gt[:, :4] = 1  # thing, category 1, area 16
    gt[:, 4:6] = 2  # crowd, category 2
    gt[:, 7] = 3  # thing, category 1, missed
    gt_segments = [
        {"id": 1, "category_id": 1, "iscrowd": 0, "area": 16},
        {"id": 2, "category_id": 2, "iscrowd": 1, "area": 8},
        {"id": 3, "category_id": 1, "iscrowd": 0, "area": 4},
    ]
    pred = np.zeros((4, 8), np.int64)
    pred[:, :3] = 7  # 12 px inside segment 1: IoU 12 / 16 = 0.75
    pred[:, 4:6] = 8  # category 2 on the crowd region: not a FP
    pred[:, 6] = 9  # category 2 on VOID column 6: ignored, more than half on void
    pred[0, 3] = 10  # category 1 inside segment 1: 1 px, FP
    pred_segments = [
        {"id": 7, "category_id": 1},
        {"id": 8, "category_id": 2},
        {"id": 9, "category_id": 2},
        {"id": 10, "category_id": 1},
    ]
    stats = pq_image_stats(gt, gt_segments, pred, pred_segments)
    np.testing.assert_allclose(stats[1], [0.75, 1, 1, 1])
    np.testing.assert_allclose(stats[2], [0, 0, 0, 0])
    categories = {1: {"isthing": 1}, 2: {"isthing": 1}}
    summary, per_class = pq_average(stats, categories, None)
    assert summary["n"] == 1
    assert per_class[1]["pq"] == pytest.approx(0.75 / 2)
    assert per_class[1]["sq"] == pytest.approx(0.75)
    assert per_class[1]["rq"] == pytest.approx(0.5)
    assert per_class[2] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}


def test_png_json_mismatch_raises():
    gt = np.ones((2, 2), np.int64)
    with pytest.raises(KeyError, match="not in segments_info"):
        pq_image_stats(gt, [{"id": 1, "category_id": 1}], gt, [])


def test_decode_label_divisor():
    panoptic = np.array([[-1, 3000], [1001, 1001]])
    ids, segments = decode_label_divisor(panoptic, 1000, thing_ids=[1])
    assert ids.tolist() == [[0, 3001], [1002, 1002]]
    assert segments == [
        {"id": 1002, "category_id": 1, "isthing": True},
        {"id": 3001, "category_id": 3, "isthing": False},
    ]


def test_equals_pq_compute(tmp_path):
    """Evaluator numbers equal panopticapi's pq_compute on the files the evaluator wrote."""
    from panopticapi.evaluation import pq_compute

    rng = np.random.default_rng(0)
    gts = [make_panoptic_gt(rng) for _ in range(8)]
    gt_json, gt_folder = write_panoptic_gt(tmp_path, gts)
    out_dir = str(tmp_path / "out")
    evaluator = COCOPanopticEvaluator(
        gt_json, gt_folder, THING_TO_DATASET, STUFF_TO_DATASET, output_dir=out_dir
    )
    for image_id, (ids, segments) in enumerate(gts):
        pred, pred_segments = perturb_panoptic(ids, segments, rng)
        if image_id == 0:  # one perfect prediction: crowd and void become VOID
            crowd = {s["id"] for s in segments if s["iscrowd"]}
            pred = np.where(np.isin(ids, list(crowd)), 0, ids)
            pred_segments = [
                {"id": s["id"], "category_id": s["category_id"]} for s in segments if not s["iscrowd"]
            ]
        evaluator.process(
            [{"image_id": image_id, "file_name": f"{image_id:04d}.jpg"}],
            [panoptic_output(pred, pred_segments)],
        )
    results = evaluator.evaluate()["panoptic_seg"]
    oracle = pq_compute(gt_json, os.path.join(out_dir, "panoptic_predictions.json"), gt_folder=gt_folder)
    for suffix, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        for key in ("pq", "sq", "rq"):
            assert results[key.upper() + suffix] == pytest.approx(100 * oracle[name][key], abs=1e-9)
    for cat in CATEGORIES:
        for key in ("pq", "sq", "rq"):
            expected = 100 * oracle["per_class"][cat["id"]][key]
            assert results[f"{key.upper()}-{cat['name']}"] == pytest.approx(expected, abs=1e-9)
    assert 0 < results["PQ"] < 100
    assert os.path.isfile(os.path.join(out_dir, "panoptic_evaluation.json"))
