"""Checks of COCO instance JSON content that would make training or evaluation wrong.

Used by the loader (``load_coco_json``), the instance evaluator and the dataset validator.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

from pycocotools.coco import COCO

from maskformer.data.datasets.annotation_files import (
    RecordProblem,
    box_problem,
    category_ids,
    duplicates,
    is_finite_number,
    read_checked_json,
    unsafe_name,
)

__all__ = ["check_instance_json", "load_coco_api"]


def _compressed_rle_length(counts: str) -> int:
    """Number of pixels a COCO compressed RLE string covers (pycocotools' ``rleFrString`` decoding)."""
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(counts[pos]) - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            pos, shift = pos + 1, shift + 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    if any(run < 0 for run in runs):
        return -1
    return sum(runs)


def _rle_problem(rle: dict, height: int, width: int) -> str | None:
    size, counts = rle.get("size"), rle.get("counts")
    if size != [height, width]:
        return f"RLE size {size} differs from the image size [{height}, {width}]"
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, list) and all(isinstance(c, int) and c >= 0 for c in counts):
        total = sum(counts)
    elif isinstance(counts, str):
        total = _compressed_rle_length(counts)
    else:
        return "RLE counts are neither a compressed string nor a list of run lengths"
    if total != height * width:
        return f"RLE counts cover {total} pixels, not {height}x{width} = {height * width}"
    return None


def _segmentation_problem(segmentation: Any, height: int, width: int) -> str | None:
    """Why a COCO segmentation (polygons or RLE) cannot be trained or scored, or None."""
    if isinstance(segmentation, dict):
        return _rle_problem(segmentation, height, width)
    if not isinstance(segmentation, list) or not segmentation:
        return f"segmentation {segmentation!r} is empty or not a list of polygons / an RLE dict"
    for k, polygon in enumerate(segmentation):
        if not isinstance(polygon, list) or len(polygon) % 2 or len(polygon) < 6:
            size = len(polygon) if isinstance(polygon, list) else type(polygon).__name__
            return f"polygon {k} has {size} coordinates; a polygon needs an even number >= 6 (3 points)"
        if not _finite_coordinates(polygon):
            return f"polygon {k} has a value that is not a finite number"
    return None


def _finite_coordinates(polygon: list) -> bool:
    """True when every coordinate is a finite number (one C-level sum; the slow path names none)."""
    try:
        return math.isfinite(sum(polygon)) or all(is_finite_number(v) for v in polygon)
    except TypeError:  # a string or None among the numbers
        return False


def _image_problems(images: list) -> list[RecordProblem]:
    problems = []
    for image_id in duplicates(img.get("id") for img in images):
        problems.append(
            RecordProblem(
                f"image id {image_id!r}",
                "is used by several 'images' entries, so their annotations would be paired with the wrong "
                "image.",
                "give every image a unique id.",
            )
        )
    for img in images:
        where = f"image {img.get('id')!r}"
        if "id" not in img:
            problems.append(RecordProblem(where, "has no 'id'.", "give every image a unique id."))
        reason = unsafe_name(img.get("file_name"))
        if reason is not None:
            problems.append(RecordProblem(where, reason + ".", "use a path relative to the image root."))
        size = (img.get("height"), img.get("width"))
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
            problems.append(RecordProblem(where, f"has height/width {size}.", "write the image's true size."))
    return problems


def _annotation_problems(annotations: list, images: dict, categories: set | None) -> list[RecordProblem]:
    problems = [
        RecordProblem(
            f"annotation id {ann_id!r}",
            "is used by several annotations.",
            "give every annotation a unique id.",
        )
        for ann_id in duplicates(ann.get("id") for ann in annotations)
    ]
    for ann in annotations:
        where = f"annotation {ann.get('id')!r} (image {ann.get('image_id')!r})"
        image = images.get(ann.get("image_id"))
        missing = [key for key in ("id", "image_id", "category_id") if key not in ann]
        if missing:
            problems.append(RecordProblem(where, f"lacks {missing}.", "write the missing fields."))
            continue
        if categories is not None and ann["category_id"] not in categories:
            problems.append(
                RecordProblem(
                    where,
                    f"has category_id {ann['category_id']!r}, absent from 'categories' {sorted(categories)}.",
                    "fix the category id or add the category.",
                )
            )
        if image is None:
            problems.append(
                RecordProblem(
                    where, "refers to an image id absent from 'images'.", "add the image or drop it."
                )
            )
            continue
        if "segmentation" not in ann:
            reason = "has no 'segmentation' (MaskFormer trains and scores masks)"
        else:
            reason = _segmentation_problem(ann["segmentation"], image.get("height"), image.get("width"))
        if reason is None and "bbox" in ann:
            reason = box_problem(ann["bbox"])
        if reason is not None:
            problems.append(RecordProblem(where, reason + ".", "repair or remove the annotation."))
    return problems


def check_instance_json(data: Any) -> list[RecordProblem]:
    """Problems of a COCO instance JSON that would make training or evaluation wrong.

    Duplicate image / annotation ids, unsafe image file names, bad image sizes, annotations of
    unknown images, missing / empty / degenerate polygons, RLE whose size differs from the image,
    NaN or negative boxes.
    """
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations")
    ):
        return [
            RecordProblem(
                "top level",
                "is not a COCO instance JSON (a mapping with 'images' and 'annotations' lists).",
                "point the dataset at the instance JSON.",
            )
        ]
    if not all(isinstance(x, dict) for x in data["images"] + data["annotations"]):
        return [RecordProblem("top level", "has entries that are not mappings.", "regenerate the file.")]
    images = {img.get("id"): img for img in data["images"]}
    categories = category_ids(data)
    return _image_problems(data["images"]) + _annotation_problems(data["annotations"], images, categories)


def load_coco_api(json_file: str) -> COCO:
    """A pycocotools ``COCO`` of ``json_file`` once it passes :func:`check_instance_json`.

    Raises:
        ValueError: the file does not parse, or lists its invalid records.
    """
    data = read_checked_json(json_file, check_instance_json)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco
