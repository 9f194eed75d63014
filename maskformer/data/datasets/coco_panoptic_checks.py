"""Checks of COCO panoptic JSON content that would make training or evaluation wrong.

Used by the panoptic loaders (COCO-format and Cityscapes), the panoptic evaluator and the dataset
validator.
"""

from __future__ import annotations

from typing import Any

from maskformer.data.datasets.annotation_files import (
    RecordProblem,
    box_problem,
    category_ids,
    duplicates,
    is_finite_number,
    read_checked_json,
    unsafe_name,
)

__all__ = ["check_panoptic_json", "load_panoptic_json"]

_ANNOTATION_KEYS = ("image_id", "file_name", "segments_info")


def _duplicate_problems(entries: list[dict], key: str, what: str, harm: str) -> list[RecordProblem]:
    return [
        RecordProblem(
            f"{what} {key} {value!r}",
            f"is used by several {what} entries, so {harm}.",
            f"give every {what} entry a unique {key}.",
        )
        for value in duplicates(entry.get(key) for entry in entries)
    ]


def _segment_problem(segment: Any, categories: set | None) -> str | None:
    """Why one ``segments_info`` entry is unusable, or None."""
    if not isinstance(segment, dict) or "id" not in segment or "category_id" not in segment:
        return f"segment {segment!r} lacks 'id' or 'category_id'"
    seg_id = segment["id"]
    if not isinstance(seg_id, int) or isinstance(seg_id, bool) or seg_id <= 0:
        return f"segment id {seg_id!r} is not a positive integer (0 is VOID)"
    if categories is not None and segment["category_id"] not in categories:
        return f"segment {seg_id} has category_id {segment['category_id']!r}, absent from 'categories'"
    if "area" in segment and not (is_finite_number(segment["area"]) and segment["area"] >= 0):
        return f"segment {seg_id} has area {segment['area']!r}, not a finite number >= 0"
    reason = box_problem(segment["bbox"]) if "bbox" in segment else None
    return f"segment {seg_id}: {reason}" if reason else None


def _annotation_problem(ann: dict, categories: set | None) -> tuple[str, str] | None:
    """``(message, fix)`` for one annotation, or None."""
    missing = [key for key in _ANNOTATION_KEYS if key not in ann]
    if missing or not isinstance(ann["segments_info"], list):
        return f"lacks {missing or ['a segments_info list']}.", "write the missing fields."
    reason = unsafe_name(ann["file_name"])
    if reason is not None:
        return reason + ".", "use a PNG name relative to the panoptic root."
    repeated = duplicates(s.get("id") for s in ann["segments_info"] if isinstance(s, dict))
    if repeated:
        return f"segments_info lists segment ids {repeated} twice.", "give each segment a unique id."
    for segment in ann["segments_info"]:
        reason = _segment_problem(segment, categories)
        if reason is not None:
            return reason + ".", "repair or remove the segment."
    return None


def check_panoptic_json(data: Any) -> list[RecordProblem]:
    """Problems of a COCO panoptic JSON that would make training or evaluation wrong.

    Duplicate image ids (in ``images`` or ``annotations``) or PNG names, unsafe file names, missing
    fields, repeated / non-positive segment ids, unknown categories, NaN or negative areas and boxes.
    """
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        return [
            RecordProblem(
                "top level",
                "is not a COCO panoptic JSON (a mapping with an 'annotations' list).",
                "point the dataset at the panoptic JSON.",
            )
        ]
    images, annotations = data.get("images", []), data["annotations"]
    if not isinstance(images, list) or not all(isinstance(x, dict) for x in images + annotations):
        return [RecordProblem("top level", "has entries that are not mappings.", "regenerate the file.")]
    wrong_labels = "images would be paired with another image's labels"
    problems = _duplicate_problems(images, "id", "images", wrong_labels)
    problems += _duplicate_problems(annotations, "image_id", "annotations", wrong_labels)
    problems += _duplicate_problems(
        annotations, "file_name", "annotations", "images would share one PNG (and one prediction file)"
    )
    for image in images:
        reason = "has no 'id'" if "id" not in image else unsafe_name(image.get("file_name"))
        if reason is not None:
            problems.append(RecordProblem(f"image {image.get('id')!r}", reason + ".", "use a relative name."))
    categories = category_ids(data)
    for ann in annotations:
        found = _annotation_problem(ann, categories)
        if found is not None:
            where = f"annotation of image {ann.get('image_id')!r} ('{ann.get('file_name')}')"
            problems.append(RecordProblem(where, *found))
    return problems


def load_panoptic_json(json_file: str) -> dict[str, Any]:
    """The content of ``json_file`` once it passes :func:`check_panoptic_json`.

    Raises:
        ValueError: the file does not parse, or lists its invalid records.
    """
    return read_checked_json(json_file, check_panoptic_json)
