"""PQ^St of semantic predictions: hand-made cases and a brute-force oracle of the official tool's rules."""

import numpy as np
import pytest
import torch
from PIL import Image

from maskformer.evaluation import SemSegEvaluator
from maskformer.evaluation.semantic_pq import pq_from_stats, semantic_pq_stats

VOID = 255


def _oracle(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """The official per-image loop, written out segment by segment."""
    stats = np.zeros((num_classes, 4))
    for k in range(num_classes):
        g, p = gt == k, pred == k
        if g.any() and p.any():
            inter = (g & p).sum()
            union = p.sum() + g.sum() - inter - (p & (gt == VOID)).sum()
            if inter / union > 0.5:
                stats[k] += [1, 0, 0, inter / union]
                continue
        if g.any():
            stats[k, 2] += 1
        if p.any() and (p & (gt == VOID)).sum() / p.sum() <= 0.5:
            stats[k, 1] += 1
    return stats


def test_hand_made_image():
    gt = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [2, 2, 1, 1], [VOID, VOID, VOID, VOID]])
    pred = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [3, 3, 3, 2]])
    stats = semantic_pq_stats(pred, gt, num_classes=4, ignore_label=VOID)
    # class 0: IoU 6/7 -> TP; class 1: 3 / (6 + 4 - 3) = 3/7 -> FN + FP; class 2: no overlap -> FN,
    # its prediction (1 pixel) lies on void -> no FP; class 3: all on void -> no FP.
    expected = np.array([[1, 0, 0, 6 / 7], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(stats, expected)
    metrics = pq_from_stats(stats, ["a", "b", "c", "d"])
    assert metrics["PQ_St"] == pytest.approx(100 * (6 / 7) / 3)  # classes a, b, c counted
    assert metrics["RQ_St"] == pytest.approx(100 / 3)
    assert metrics["SQ_St"] == pytest.approx(100 * (6 / 7) / 3)
    assert np.isnan(metrics["PQ_St-d"]) and metrics["PQ_St-a"] == pytest.approx(100 * 6 / 7)


def test_equals_the_official_rules_on_random_maps():
    rng = np.random.default_rng(0)
    for _ in range(50):
        gt = rng.integers(0, 5, size=(9, 11))
        gt[rng.random((9, 11)) < 0.2] = VOID
        noise = rng.integers(0, 5, size=(9, 11))
        pred = np.where(rng.random((9, 11)) < 0.7, np.where(gt == VOID, 0, gt), noise)
        np.testing.assert_allclose(semantic_pq_stats(pred, gt, 5, VOID), _oracle(pred, gt, 5))


def test_sem_seg_evaluator_reports_pq_st_when_asked(tmp_path):
    gt = np.array([[0, 0], [1, VOID]], dtype=np.uint8)
    Image.fromarray(gt).save(tmp_path / "gt.png")
    scores = torch.zeros(2, 2, 2)
    scores[0, 0], scores[1, 1] = 1.0, 1.0  # predicts the ground truth exactly
    inputs = [{"file_name": "a.jpg", "sem_seg_file_name": str(tmp_path / "gt.png")}]
    outputs = [{"sem_seg": scores}]
    plain = SemSegEvaluator(["a", "b"])
    plain.process(inputs, outputs)
    assert "PQ_St" not in plain.evaluate()["sem_seg"]
    with_pq = SemSegEvaluator(["a", "b"], semantic_pq=True)
    with_pq.process(inputs, outputs)
    metrics = with_pq.evaluate()["sem_seg"]
    assert metrics["PQ_St"] == metrics["SQ_St"] == metrics["RQ_St"] == 100.0
    assert metrics["mIoU"] == 100.0
