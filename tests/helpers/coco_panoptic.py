"""A generated COCO panoptic ground truth (things 1-3, stuff 10-11), perturbed predictions of it and
the files the panoptic evaluators read."""

import json

import numpy as np
import torch
from PIL import Image

from maskformer.evaluation.pq import id2rgb

# Dataset ids: things 1, 2, 3; stuff 10, 11. Contiguous ids cover things then stuff (like COCO).
CATEGORIES = [
    {"id": 1, "name": "cat", "isthing": 1},
    {"id": 2, "name": "dog", "isthing": 1},
    {"id": 3, "name": "car", "isthing": 1},
    {"id": 10, "name": "sky", "isthing": 0},
    {"id": 11, "name": "road", "isthing": 0},
]
THING_TO_DATASET = {0: 1, 1: 2, 2: 3}
STUFF_TO_DATASET = {0: 1, 1: 2, 2: 3, 3: 10, 4: 11}
DATASET_TO_CONTIGUOUS = {v: k for k, v in STUFF_TO_DATASET.items()}
H, W = 24, 32


def make_panoptic_gt(rng):
    """A gt id map with two stuff regions, void strips and a few (possibly crowd) things."""
    ids = np.zeros((H, W), np.int64)
    segments = []
    cut = rng.integers(8, 16)
    for seg_id, (cat, rows) in enumerate([(10, slice(0, cut)), (11, slice(cut, H))], start=1):
        ids[rows] = seg_id
        segments.append({"id": seg_id, "category_id": cat, "iscrowd": 0})
    for seg_id in range(3, 3 + rng.integers(2, 5)):
        y, x = rng.integers(0, H - 6), rng.integers(0, W - 6)
        ids[y : y + rng.integers(3, 7), x : x + rng.integers(3, 7)] = seg_id
        segments.append(
            {"id": seg_id, "category_id": int(rng.integers(1, 4)), "iscrowd": int(rng.random() < 0.3)}
        )
    ids[:, rng.integers(0, W)] = 0  # a VOID column
    present = set(np.unique(ids).tolist())
    segments = [s for s in segments if s["id"] in present]
    for s in segments:
        s["area"] = int((ids == s["id"]).sum())
    return ids, segments


def perturb_panoptic(gt_ids, gt_segments, rng):
    """Perturbs the gt: shifted, missing, relabelled, extra and crowd-overlapping segments."""
    pred = np.zeros_like(gt_ids)
    segments = []
    for s in gt_segments:
        mask = gt_ids == s["id"]
        roll = rng.choice([0, 0, 1, 3])
        mask = np.roll(mask, roll, axis=int(rng.integers(0, 2)))
        if rng.random() < 0.15:  # missing
            continue
        cat = s["category_id"] if rng.random() > 0.15 else int(rng.choice([1, 2, 3, 10, 11]))
        new_id = len(segments) + 1
        pred[mask] = new_id
        segments.append({"id": new_id, "category_id": cat})
    for _ in range(rng.integers(0, 3)):  # extra segments, sometimes on crowd regions
        y, x = rng.integers(0, H - 4), rng.integers(0, W - 4)
        new_id = len(segments) + 1
        pred[y : y + 4, x : x + 4] = new_id
        segments.append({"id": new_id, "category_id": int(rng.choice([1, 2, 3, 10, 11]))})
    present = set(np.unique(pred).tolist())
    return pred, [s for s in segments if s["id"] in present]


def panoptic_output(pred, segments):
    """A model output ``{"panoptic_seg": (ids, segments_info)}`` with contiguous category ids."""
    info = []
    for s in segments:
        isthing = s["category_id"] < 10
        info.append(
            {"id": s["id"], "category_id": DATASET_TO_CONTIGUOUS[s["category_id"]], "isthing": isthing}
        )
    return {"panoptic_seg": (torch.from_numpy(pred).int(), info)}


def write_panoptic_gt(tmp_path, gts):
    """Writes the PNGs and ``gt.json`` of ``(ids, segments)`` pairs; returns (json path, PNG folder)."""
    folder = tmp_path / "gt"
    folder.mkdir()
    annotations = []
    for image_id, (ids, segments) in enumerate(gts):
        Image.fromarray(id2rgb(ids)).save(folder / f"{image_id:04d}.png")
        annotations.append(
            {"image_id": image_id, "file_name": f"{image_id:04d}.png", "segments_info": segments}
        )
    images = [{"id": i, "file_name": f"{i:04d}.jpg", "height": H, "width": W} for i in range(len(gts))]
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return str(gt_json), str(folder)
