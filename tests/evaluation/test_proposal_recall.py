"""Class-agnostic AR@100 of query proposals (Mask2Former Figure 3) on hand-made masks."""

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from pycocotools.coco import COCO

from maskformer.evaluation.proposal_recall import class_agnostic_recall, proposals_of_layer


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("utf-8")
    return rle


def _gt(masks: list[np.ndarray], categories=(1, 2)) -> COCO:
    anns = [
        {"id": i + 1, "image_id": 7, "category_id": c, "segmentation": _rle(m), "area": float(m.sum()),
         "bbox": list(mask_util.toBbox(_rle(m))), "iscrowd": 0}
        for i, (m, c) in enumerate(zip(masks, categories))
    ]  # fmt: skip
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 7, "height": 10, "width": 10}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    coco.createIndex()
    return coco


def test_recall_is_class_agnostic_and_averaged_over_iou_thresholds():
    left, right = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    left[:, :5], right[:, 5:] = True, True
    coco = _gt([left, right])
    assert class_agnostic_recall(coco, [{"image_id": 7, "score": 0.9, "segmentation": _rle(left)}]) == 50.0
    partial = np.zeros((10, 10), bool)
    partial[:, 5:] = True
    partial[:4, 5:] = False
    partial[:, 4] = True  # IoU with `right`: 30 / (50 + 10)
    iou = (partial & right).sum() / (partial | right).sum()
    assert iou == pytest.approx(0.5)
    results = [
        {"image_id": 7, "score": 0.9, "segmentation": _rle(left)},
        {"image_id": 7, "score": 0.1, "segmentation": _rle(partial)},
    ]
    # left: recalled at all 10 thresholds; right: only at 0.50 -> (10 + 1) / 20.
    assert class_agnostic_recall(coco, results) == pytest.approx(55.0)
    assert class_agnostic_recall(coco, []) == 0.0


def test_proposals_are_binarised_at_the_original_size_and_scored_by_objectness():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])  # query 1: mostly "no object"
    masks = torch.full((2, 4, 4), -5.0)
    masks[0, :2, :2] = 5.0  # top-left quarter (stride 4 of the 16x16 input)
    scores, rles = proposals_of_layer(logits, masks, image_size=(16, 12), height=32, width=24)
    expected = 1 - torch.softmax(logits, -1)[:, -1]
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-6)
    decoded = mask_util.decode(rles[0]).astype(bool)
    assert decoded.shape == (32, 24)  # the 16x12 image inside the padding, at its original size
    assert decoded[:14, :14].all() and not decoded[18:].any() and not decoded[:, 18:].any()
    assert not mask_util.decode(rles[1]).any()
