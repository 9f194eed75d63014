"""Reading annotation files safely: shared by the loaders, the validator and the evaluators.

* ``read_annotation_json`` names the file (and line / column) when it does not parse.
* ``join_inside`` keeps every path built from annotation data inside its root: an absolute name
  or one that climbs out with ``..`` is refused (it could make evaluation overwrite any file, or
  training read one).
* Per-format checks return :class:`RecordProblem` lists; ``read_checked_json`` reads a file and
  turns its problems into one error that lists the first few, each with the record and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = [
    "RecordProblem",
    "box_problem",
    "category_ids",
    "duplicates",
    "is_finite_number",
    "join_inside",
    "read_annotation_json",
    "read_checked_json",
    "unsafe_name",
]

_LISTED = 5


class RecordProblem(NamedTuple):
    """One bad record of an annotation file.

    Attributes:
        record: which record, e.g. ``"annotation 7 (image 3)"``.
        message: what is wrong.
        fix: how to repair the file.
    """

    record: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.record}: {self.message} Fix: {self.fix}"


def read_annotation_json(path: str) -> Any:
    """``json.load`` of ``path``; a file that does not parse raises a ValueError naming it.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: invalid JSON or text that is not UTF-8, with the position.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"Annotation file '{path}' is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}. "
            "Regenerate or re-download it (an interrupted download or write leaves it cut off)."
        ) from None
    except UnicodeDecodeError as e:
        raise ValueError(
            f"Annotation file '{path}' is not UTF-8 text ({e.reason} at byte {e.start}), so not a JSON "
            "annotation file. Point the dataset at the right file."
        ) from None


def unsafe_name(name: Any) -> str | None:
    """Why ``name`` may not be used as a file name under a dataset root, or None when it is safe."""
    if not isinstance(name, str) or not name:
        return f"file_name {name!r} is not a non-empty string"
    if "\0" in name:
        return f"file_name {name!r} contains a NUL character"
    if os.path.isabs(name):
        return f"file_name '{name}' is an absolute path"
    if os.path.normpath(name).split(os.sep)[0] == "..":
        return f"file_name '{name}' leads out of its folder ('..')"
    return None


def join_inside(root: str, name: Any, what: str) -> str:
    """``os.path.join(root, name)`` for a ``name`` taken from annotation data, refused if it escapes.

    Args:
        root: the folder the file must be in.
        name: relative file name from the annotation data.
        what: where the name comes from, for the message (e.g. ``"'pan.json' annotation of image 3"``).

    Raises:
        ValueError: ``name`` is absolute, climbs out of ``root`` or is not a string.
    """
    reason = unsafe_name(name)
    if reason is not None:
        raise ValueError(
            f"{what}: {reason}; names in annotation data must be relative paths inside '{root}'. "
            "Fix: correct the name in the annotation file."
        )
    return os.path.join(root, name)


def duplicates(values: Iterable[Any]) -> list[Any]:
    """The values that occur more than once, in first-seen order."""
    return [value for value, count in Counter(values).items() if count > 1]


def is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def box_problem(bbox: Any) -> str | None:
    """Why an ``[x, y, w, h]`` box is unusable (wrong length, NaN / inf, negative size), or None."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        return f"bbox {bbox!r} is not [x, y, width, height]"
    if not all(is_finite_number(v) for v in bbox):
        return f"bbox {bbox} has a value that is not a finite number"
    if bbox[2] < 0 or bbox[3] < 0:
        return f"bbox {bbox} has a negative width or height"
    return None


def category_ids(data: dict) -> set | None:
    """Ids of an annotation file's ``categories`` (None when it lists none)."""
    if not isinstance(data.get("categories"), list):
        return None
    return {c.get("id") for c in data["categories"] if isinstance(c, dict)}


def read_checked_json(json_file: str, check: Callable[[Any], list[RecordProblem]]) -> Any:
    """The content of ``json_file`` once ``check`` finds no problem in it.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_annotation_json`.
        ValueError: ``check`` found problems; the message lists the first few.
    """
    data = read_annotation_json(json_file)
    _refuse(check(data), json_file)
    return data


def _refuse(problems: list[RecordProblem], json_file: str) -> None:
    """Raises one ValueError listing the first problems of ``json_file``; does nothing when there are none."""
    if not problems:
        return
    listed = "\n".join(f"  {p}" for p in problems[:_LISTED])
    more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
    raise ValueError(
        f"'{json_file}' has {len(problems)} invalid record(s); training or evaluating on it would be "
        f"wrong:\n{listed}{more}\n"
        "python -m maskformer.data.validation --dataset <name> lists every problem of a dataset."
    )
