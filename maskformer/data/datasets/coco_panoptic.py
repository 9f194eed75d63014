"""COCO panoptic format: loader and registration (also used by ADE20K, Cityscapes, Mapillary, shapes)."""

from __future__ import annotations

import logging
import os
from typing import Any

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.annotation_files import join_inside
from maskformer.data.datasets.coco_panoptic_checks import load_panoptic_json

__all__ = ["load_coco_panoptic_json", "register_coco_panoptic"]

logger = logging.getLogger(__name__)


def _convert_segment(segment: dict, meta: dict, json_file: str, image_file: str) -> dict:
    """Dataset category id -> contiguous id; ``isthing`` from the thing map (official behaviour)."""
    category_id = segment["category_id"]
    things = meta["thing_dataset_id_to_contiguous_id"]
    stuff = meta["stuff_dataset_id_to_contiguous_id"]
    if category_id in things:
        contiguous, isthing = things[category_id], True
    elif category_id in stuff:
        contiguous, isthing = stuff[category_id], False
    else:
        raise ValueError(
            f"'{json_file}': segment {segment['id']} of '{image_file}' has category_id {category_id}, which "
            f"is not in the dataset's categories ({sorted(stuff)}). Fix the annotation or the category table."
        )
    out = dict(segment)
    out.update(category_id=contiguous, isthing=isthing, iscrowd=int(segment.get("iscrowd", 0)))
    return out


def _record(ann: dict, entry: dict, json_file: str, roots: tuple[str, str, str | None]) -> dict:
    """One dataset dict; every file name from the JSON must stay inside its root."""
    image_dir, gt_dir, semseg_dir = roots
    where = f"'{json_file}' annotation of image {ann['image_id']!r}"
    image_name = entry.get("file_name", os.path.splitext(ann["file_name"])[0] + ".jpg")
    record = {
        "file_name": join_inside(image_dir, image_name, where),
        "image_id": ann["image_id"],
        "pan_seg_file_name": join_inside(gt_dir, ann["file_name"], where),
    }
    if "height" in entry and "width" in entry:
        record.update(height=int(entry["height"]), width=int(entry["width"]))
    if semseg_dir is not None:
        record["sem_seg_file_name"] = join_inside(semseg_dir, ann["file_name"], where)
    return record


def load_coco_panoptic_json(
    json_file: str,
    image_dir: str,
    gt_dir: str,
    meta: dict[str, Any],
    semseg_dir: str | None = None,
) -> list[dict]:
    """Reads a COCO panoptic JSON into dataset dicts.

    Args:
        json_file: the panoptic JSON (``images``, ``annotations`` with ``segments_info``, ``categories``).
        image_dir: folder of the images. The image file comes from the ``images`` entry of the same
            id when present, else (as in the official loader) the PNG name with a ``.jpg`` suffix.
        gt_dir: folder of the panoptic PNGs.
        meta: needs ``thing_dataset_id_to_contiguous_id`` and ``stuff_dataset_id_to_contiguous_id``.
        semseg_dir: optional folder of semantic PNGs with the PNG's file name (``sem_seg_file_name``).

    Returns:
        dicts with ``file_name, image_id, height?, width?, pan_seg_file_name, segments_info``
        (``id, category_id`` contiguous, ``isthing, iscrowd, area, bbox``) and ``sem_seg_file_name``.

    Raises:
        ValueError: the JSON does not parse, fails :func:`check_panoptic_json` (duplicate ids, file
            names outside their roots, ...) or uses a category missing from ``meta``.
    """
    data = load_panoptic_json(json_file)
    images = {img["id"]: img for img in data.get("images", [])}
    dicts = []
    for ann in data["annotations"]:
        record = _record(ann, images.get(ann["image_id"], {}), json_file, (image_dir, gt_dir, semseg_dir))
        image_name = os.path.basename(record["file_name"])
        record["segments_info"] = [
            _convert_segment(s, meta, json_file, image_name) for s in ann["segments_info"]
        ]
        dicts.append(record)
    if not dicts:
        raise ValueError(f"'{json_file}' has no annotations; check that it is the right file.")
    _check_first_files(dicts, json_file)
    return dicts


def _check_first_files(dicts: list[dict], json_file: str) -> None:
    """Fails early with the paths when the first record's files are missing (wrong root / layout)."""
    for key in ("file_name", "pan_seg_file_name", "sem_seg_file_name"):
        path = dicts[0].get(key)
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(
                f"'{json_file}' refers to '{path}' ({key}), which does not exist. Check the dataset root "
                f"and the layout in datasets/README.md."
            )


def register_coco_panoptic(
    name: str,
    metadata: dict[str, Any],
    image_root: str,
    panoptic_root: str,
    panoptic_json: str,
    sem_seg_root: str | None = None,
    instances_json: str | None = None,
    evaluator_type: str = "coco_panoptic_seg",
    ignore_label: int = 255,
) -> None:
    """Registers a COCO-panoptic-format dataset (Mask2Former's ``..._panoptic_with_sem_seg`` layout).

    Args:
        name: dataset name, e.g. ``"my_dataset_train_panoptic"``.
        metadata: category metadata, e.g. ``panoptic_metadata(categories)`` (thing/stuff id maps,
            classes, colours).
        image_root: folder of the images.
        panoptic_root: folder of the panoptic PNGs.
        panoptic_json: the panoptic JSON.
        sem_seg_root: optional folder of semantic PNGs (contiguous ids, 255 = ignore).
        instances_json: optional COCO instance JSON, used by the instance evaluator.
        evaluator_type: e.g. ``coco_panoptic_seg`` or ``ade20k_panoptic_seg``.
        ignore_label: ignore value of the semantic maps (Mapillary Vistas uses 65).
    """
    DatasetCatalog.register(
        name,
        lambda: load_coco_panoptic_json(panoptic_json, image_root, panoptic_root, metadata, sem_seg_root),
    )
    extra = {"json_file": instances_json} if instances_json else {}
    if sem_seg_root:
        extra["sem_seg_root"] = sem_seg_root
    MetadataCatalog.get(name).set(
        panoptic_root=panoptic_root,
        image_root=image_root,
        panoptic_json=panoptic_json,
        evaluator_type=evaluator_type,
        ignore_label=ignore_label,
        label_divisor=1000,
        **extra,
        **metadata,
    )
