"""Cityscapes (fine) loaders: semantic (labelTrainIds), instance (instanceIds PNGs), panoptic (COCO format).

Layout (see datasets/README.md): ``cityscapes/leftImg8bit/{split}/{city}/*_leftImg8bit.png`` and
``cityscapes/gtFine/{split}/{city}/*_gtFine_{labelTrainIds,instanceIds}.png``; the panoptic split
comes from cityscapesscripts' ``createPanopticImgs`` (``gtFine/cityscapes_panoptic_{split}.json``).
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Any

import numpy as np

from maskformer.data.datasets.annotation_files import join_inside
from maskformer.data.datasets.coco_panoptic_checks import load_panoptic_json
from maskformer.data.image_io import read_label_map
from maskformer.structures.masks import bitmask_to_rle

__all__ = ["load_cityscapes_instances", "load_cityscapes_panoptic", "load_cityscapes_semantic"]

logger = logging.getLogger(__name__)

_IMAGE_SUFFIX = "_leftImg8bit.png"


def _image_files(image_dir: str) -> list[tuple[str, str]]:
    """``(image path, basename without suffix)`` for every image under ``image_dir/<city>/``."""
    files = sorted(glob.glob(os.path.join(image_dir, "*", "*" + _IMAGE_SUFFIX)))
    if not files:
        raise FileNotFoundError(
            f"No '*{_IMAGE_SUFFIX}' images under '{image_dir}/<city>/'. See datasets/README.md."
        )
    return [(f, os.path.basename(f)[: -len(_IMAGE_SUFFIX)]) for f in files]


def _gt_file(gt_dir: str, image_file: str, base: str, suffix: str) -> str:
    city = os.path.basename(os.path.dirname(image_file))
    path = os.path.join(gt_dir, city, f"{base}_gtFine_{suffix}.png")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Missing '{path}' for image '{image_file}'. Generate labelTrainIds with cityscapesscripts' "
            f"createTrainIdLabelImgs (see datasets/README.md)."
        )
    return path


def load_cityscapes_semantic(image_dir: str, gt_dir: str) -> list[dict]:
    """Dicts with ``file_name, sem_seg_file_name`` (labelTrainIds: 0..18, 255 ignore), ``image_id``."""
    return [
        {"file_name": f, "image_id": base, "sem_seg_file_name": _gt_file(gt_dir, f, base, "labelTrainIds")}
        for f, base in _image_files(image_dir)
    ]


def _instances_from_ids(ids: np.ndarray, label_to_contiguous: dict[int, int]) -> list[dict]:
    """Instance annotations from a Cityscapes instanceIds map (``label * 1000 + k``; a bare label id
    on a thing class marks a crowd region)."""
    annotations = []
    for value in np.unique(ids):
        label = int(value // 1000) if value >= 1000 else int(value)
        if label not in label_to_contiguous:
            continue
        mask = ids == value
        ys, xs = np.nonzero(mask)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        annotations.append(
            {
                "category_id": label_to_contiguous[label],
                "iscrowd": int(value < 1000),
                "bbox": bbox,
                "bbox_mode": 1,
                "segmentation": bitmask_to_rle(mask),
                "area": int(mask.sum()),
            }
        )
    return annotations


def load_cityscapes_instances(image_dir: str, gt_dir: str, categories: list[dict[str, Any]]) -> list[dict]:
    """Dicts with ``annotations`` (RLE masks, contiguous ids over the 8 thing classes) from instanceIds."""
    label_to_contiguous = {c["id"]: i for i, c in enumerate(categories)}
    dicts = []
    for f, base in _image_files(image_dir):
        ids = read_label_map(_gt_file(gt_dir, f, base, "instanceIds"))
        dicts.append(
            {
                "file_name": f,
                "image_id": base,
                "height": int(ids.shape[0]),
                "width": int(ids.shape[1]),
                "annotations": _instances_from_ids(ids, label_to_contiguous),
            }
        )
    return dicts


def load_cityscapes_panoptic(
    image_dir: str, gt_dir: str, gt_json: str, meta: dict[str, Any], sem_seg_dir: str | None = None
) -> list[dict]:
    """Dicts from cityscapesscripts' panoptic JSON (category ids are label ids, mapped to train ids)."""
    data = load_panoptic_json(gt_json)
    things, stuff = meta["thing_dataset_id_to_contiguous_id"], meta["stuff_dataset_id_to_contiguous_id"]
    dicts = []
    for ann in data["annotations"]:
        image_id = ann["image_id"]
        city = str(image_id).split("_")[0]
        where = f"'{gt_json}' annotation of image {image_id!r}"
        segments = []
        for segment in ann["segments_info"]:
            category = segment["category_id"]
            if category not in stuff:
                raise ValueError(f"'{gt_json}': unknown category_id {category} in image '{image_id}'.")
            segments.append(dict(segment, category_id=stuff[category], isthing=category in things))
        record = {
            "file_name": join_inside(image_dir, os.path.join(city, f"{image_id}{_IMAGE_SUFFIX}"), where),
            "image_id": image_id,
            "pan_seg_file_name": join_inside(gt_dir, ann["file_name"], where),
            "segments_info": segments,
        }
        if sem_seg_dir is not None:
            name = os.path.join(city, f"{image_id}_gtFine_labelTrainIds.png")
            record["sem_seg_file_name"] = join_inside(sem_seg_dir, name, where)
        dicts.append(record)
    return dicts
