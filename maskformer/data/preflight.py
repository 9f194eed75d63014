"""Pre-flight checks: the datasets of a run are validated before its first iteration.

Cheap checks run on every record (metadata, annotation-file content, files exist, class ids
within ``NUM_CLASSES``, the class count of the task); the checks that read images and label maps
(sizes, label values, panoptic segment ids) run on an evenly spaced sample of
``DATASETS.PREFLIGHT_NUM_IMAGES`` records. ``DATASETS.PREFLIGHT_CHECK False`` skips them.
"""

from __future__ import annotations

import logging
import os

from maskformer.data.catalog import MetadataCatalog
from maskformer.data.validation import Problem, _check_record, load_and_check
from maskformer.utils import comm

__all__ = ["DatasetCheckError", "check_datasets", "preflight_problems"]

logger = logging.getLogger(__name__)

_FILE_KEYS = ("file_name", "pan_seg_file_name", "sem_seg_file_name")
_MAX_LISTED = 20


class DatasetCheckError(ValueError):
    """A dataset of the run would fail later; the message lists every problem with its fix."""


def _record_class_ids(record: dict) -> list[int]:
    segments = record.get("segments_info", []) + record.get("annotations", [])
    return [s["category_id"] for s in segments]


def _cheap_problems(name: str, dicts: list[dict], num_classes: int) -> list[Problem]:
    """Missing files and out-of-range class ids over all records, one problem per kind and key."""
    missing: dict[str, list[str]] = {}
    bad_ids: set[int] = set()
    for record in dicts:
        for key in _FILE_KEYS:
            path = record.get(key)
            if path is not None and not os.path.isfile(path):
                missing.setdefault(key, []).append(path)
        bad_ids.update(c for c in _record_class_ids(record) if not 0 <= c < num_classes)
    hint = MetadataCatalog.get(name).get("missing_files_hint", "See datasets/README.md.")
    problems = [
        Problem(
            paths[0],
            f"does not exist ({key} of dataset '{name}'; {len(paths)} of {len(dicts)} such files are "
            f"missing, e.g. {paths[:3]}).",
            f"restore the files or remove their records from the annotations. {hint}",
        )
        for key, paths in missing.items()
    ]
    if bad_ids:
        problems.append(
            Problem(
                "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
                f"is {num_classes} but dataset '{name}' has contiguous class ids {sorted(bad_ids)[:10]} "
                f"outside [0, {num_classes}).",
                "set NUM_CLASSES to the dataset's class count or fix the category table.",
            )
        )
    return problems


def _sample(dicts: list[dict], count: int) -> list[dict]:
    """``count`` records evenly spaced over ``dicts`` (all when there are fewer)."""
    if count >= len(dicts):
        return dicts
    if count <= 0:
        return []
    step = len(dicts) / count
    return [dicts[int(i * step)] for i in range(count)]


def preflight_problems(cfg, name: str, num_images: int) -> list[Problem]:
    """Problems of dataset ``name`` for ``cfg``: cheap checks on all records, full ones on a sample.

    Args:
        cfg: the config (``MODEL.SEM_SEG_HEAD.NUM_CLASSES``, ``MODEL.MASK_FORMER.TEST.*_ON``).
        name: a registered dataset.
        num_images: records whose image and label files are read and checked in full.

    Returns:
        the problems, without duplicates (empty when the dataset is usable).
    """
    problems, dicts = load_and_check(cfg, name)
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    problems += _cheap_problems(name, dicts, num_classes)
    ignore = MetadataCatalog.get(name).get("ignore_label", 255)
    present = [r for r in dicts if all(os.path.isfile(r[k]) for k in _FILE_KEYS if k in r)]
    for record in _sample(present, num_images):
        problems += _check_record(record, num_classes, ignore)
    return list(dict.fromkeys(problems))


def _format(problems: list[Problem]) -> str:
    lines = [f"  - {p}" for p in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        lines.append(f"  ... and {len(problems) - _MAX_LISTED} more (python -m maskformer.data.validation).")
    return "\n".join(lines)


def check_datasets(cfg, names: list[str]) -> None:
    """Runs the pre-flight checks on ``names`` (on the main process) unless DATASETS.PREFLIGHT_CHECK is off.

    Every process gets the outcome, so all of them stop together.

    Raises:
        DatasetCheckError: listing every problem, its file or config key, and its fix.
    """
    if not cfg.DATASETS.PREFLIGHT_CHECK or not names:
        return
    problems: list[Problem] = []
    if comm.is_main_process():
        for name in dict.fromkeys(names):
            problems += preflight_problems(cfg, name, cfg.DATASETS.PREFLIGHT_NUM_IMAGES)
        logger.info(
            "Pre-flight check of %s: %d problem(s) (DATASETS.PREFLIGHT_CHECK False skips it).",
            list(dict.fromkeys(names)),
            len(problems),
        )
    problems = comm.broadcast_object(problems)
    if problems:
        raise DatasetCheckError(
            f"The datasets fail the pre-flight check, so the run does not start:\n{_format(problems)}\n"
            "Fix them, or set DATASETS.PREFLIGHT_CHECK False to skip the check."
        )
