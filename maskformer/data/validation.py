"""Checks a registered dataset against a config; every problem names the file and the fix.

Usable from Python (``validate_dataset(cfg, name)``) or as a tool::

    python -m maskformer.data.validation --config-file cfg.yaml --dataset my_train [--max-images 100]
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.annotation_files import duplicates, read_annotation_json
from maskformer.data.datasets.coco_instance_checks import check_instance_json
from maskformer.data.datasets.coco_panoptic_checks import check_panoptic_json
from maskformer.data.image_io import read_image, read_label_map, read_panoptic_ids

__all__ = ["Problem", "check_num_classes", "load_and_check", "validate_dataset"]

logger = logging.getLogger(__name__)

_PANOPTIC_KEYS = (
    "panoptic_root",
    "panoptic_json",
    "thing_dataset_id_to_contiguous_id",
    "stuff_dataset_id_to_contiguous_id",
    "label_divisor",
    "ignore_label",
)
_REQUIRED_METADATA = {
    "sem_seg": ("stuff_classes", "ignore_label"),
    "coco": ("json_file", "thing_classes", "thing_dataset_id_to_contiguous_id"),
    "coco_panoptic_seg": _PANOPTIC_KEYS,
    "ade20k_panoptic_seg": _PANOPTIC_KEYS,
    "mapillary_vistas_panoptic_seg": _PANOPTIC_KEYS,
    "cityscapes_sem_seg": ("gt_dir", "stuff_classes"),
    "cityscapes_instance": ("gt_dir", "thing_classes"),
    "cityscapes_panoptic_seg": ("gt_dir", *_PANOPTIC_KEYS),
}


@dataclass(frozen=True)
class Problem:
    """One problem: where (a file or a metadata key), what is wrong, and how to fix it."""

    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} Fix: {self.fix}"


def _check_metadata(name: str, meta: dict, cfg) -> list[Problem]:
    where = f"MetadataCatalog['{name}']"
    evaluator = meta.get("evaluator_type")
    if evaluator is None:
        return [Problem(where, "has no evaluator_type.", f"set one of {sorted(_REQUIRED_METADATA)}.")]
    if evaluator not in _REQUIRED_METADATA:
        return [
            Problem(
                where, f"unknown evaluator_type '{evaluator}'.", f"use one of {sorted(_REQUIRED_METADATA)}."
            )
        ]
    problems = [
        Problem(where, f"lacks '{key}', needed by the '{evaluator}' evaluator.", f"set metadata '{key}'.")
        for key in _REQUIRED_METADATA[evaluator]
        if meta.get(key) is None
    ]
    if (
        evaluator == "coco_panoptic_seg"
        and cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON
        and not meta.get("json_file")
    ):
        problems.append(
            Problem(
                where,
                "TEST.INSTANCE_ON needs the COCO instance JSON ('json_file').",
                "register instances_json.",
            )
        )
    return problems


def check_num_classes(cfg, name: str) -> list[Problem]:
    """MODEL.SEM_SEG_HEAD.NUM_CLASSES against the class count of ``name`` for its task.

    Instance datasets (evaluator ``coco`` / ``cityscapes_instance``) count their thing classes;
    panoptic and semantic datasets count all classes (``stuff_classes``). Call it after the
    dataset was loaded once: a COCO instance JSON fills its classes on loading.
    """
    meta = MetadataCatalog.get(name)
    if meta.get("evaluator_type") in ("coco", "cityscapes_instance"):
        classes, kind = meta.get("thing_classes"), "thing classes (an instance task)"
    else:
        classes, kind = meta.get("stuff_classes") or meta.get("thing_classes"), "classes"
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    if classes is None or len(classes) == num_classes:
        return []
    return [
        Problem(
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
            f"is {num_classes} but dataset '{name}' has {len(classes)} {kind}.",
            f"set MODEL.SEM_SEG_HEAD.NUM_CLASSES {len(classes)} in the config (or on the command line).",
        )
    ]


def _check_image(record: dict) -> tuple[list[Problem], tuple[int, int] | None]:
    path = record["file_name"]
    try:
        h, w = read_image(path).shape[:2]
    except OSError as e:
        return [Problem(path, str(e), "restore the file or remove it from the annotations.")], None
    expected = (record.get("height", h), record.get("width", w))
    if expected != (h, w):
        fix = "correct 'height'/'width' in the annotation file."
        return [Problem(path, f"is {h}x{w}, the annotation says {expected[0]}x{expected[1]}.", fix)], (h, w)
    return [], (h, w)


def _read_map(
    path: str, reader: Callable[[str], np.ndarray], hw, unreadable_fix: str, size_fix: str
) -> tuple[np.ndarray | None, list[Problem]]:
    """``(map, problems)``: the map is None when it cannot be read, a problem when its size is not ``hw``."""
    try:
        array = reader(path)
    except (OSError, ValueError) as e:
        return None, [Problem(path, str(e), unreadable_fix)]
    if hw is not None and array.shape != hw:
        return array, [Problem(path, f"is {array.shape}, its image is {hw}.", size_fix)]
    return array, []


def _check_semantic(path: str, hw, num_classes: int, ignore: int) -> list[Problem]:
    fixes = ("regenerate the label map (datasets/prepare_*.py).", "regenerate the label map.")
    labels, problems = _read_map(path, read_label_map, hw, *fixes)
    if labels is None:
        return problems
    values = np.unique(labels)
    bad = values[(values != ignore) & ((values < 0) | (values >= num_classes))]
    if len(bad):
        fix = f"map them to 0..{num_classes - 1} or to the ignore label {ignore}, or fix NUM_CLASSES."
        problems.append(Problem(path, f"has labels {bad.tolist()[:10]} outside [0, {num_classes}).", fix))
    return problems


def _check_panoptic(record: dict, hw, num_classes: int) -> list[Problem]:
    path = record["pan_seg_file_name"]
    fix = "regenerate the panoptic PNG."
    ids, problems = _read_map(path, read_panoptic_ids, hw, fix, fix)
    if ids is None:
        return problems
    in_png = set(np.unique(ids).tolist()) - {0}
    listed = {s["id"] for s in record["segments_info"]}
    if in_png - listed:
        fix = "add them to segments_info or paint those pixels 0 (void)."
        problems.append(
            Problem(path, f"has segment ids {sorted(in_png - listed)[:10]} not in segments_info.", fix)
        )
    if listed - in_png:
        problems.append(
            Problem(
                path,
                f"segments_info lists ids {sorted(listed - in_png)[:10]} absent from the PNG.",
                "drop them.",
            )
        )
    bad = [s["category_id"] for s in record["segments_info"] if not 0 <= s["category_id"] < num_classes]
    if bad:
        problems.append(
            Problem(path, f"has category ids {bad[:10]} >= NUM_CLASSES {num_classes}.", "fix NUM_CLASSES.")
        )
    return problems


def _check_record(record: dict, num_classes: int, ignore: int) -> list[Problem]:
    problems, hw = _check_image(record)
    if "sem_seg_file_name" in record:
        problems += _check_semantic(record["sem_seg_file_name"], hw, num_classes, ignore)
    if "pan_seg_file_name" in record:
        problems += _check_panoptic(record, hw, num_classes)
    for ann in record.get("annotations", []):
        if not 0 <= ann["category_id"] < num_classes:
            problems.append(
                Problem(
                    record["file_name"],
                    f"annotation category {ann['category_id']} >= {num_classes}.",
                    "fix NUM_CLASSES.",
                )
            )
    return problems


def _check_annotation_files(meta: dict) -> list[Problem]:
    """Content problems of the dataset's annotation JSONs (each one the loaders refuse the file for)."""
    problems = []
    for key, check in (("panoptic_json", check_panoptic_json), ("json_file", check_instance_json)):
        path = meta.get(key)
        if not path or not os.path.isfile(path):
            continue  # a missing file is reported when the dataset is loaded
        try:
            data = read_annotation_json(path)
        except ValueError as e:
            problems.append(Problem(path, str(e), "regenerate the file."))
            continue
        problems += [Problem(f"{path}: {p.record}", p.message, p.fix) for p in check(data)]
    return problems


def _check_unique_ids(dicts: list[dict], name: str) -> list[Problem]:
    return [
        Problem(
            f"DatasetCatalog['{name}']",
            f"has several records with image_id {image_id!r}; evaluation pairs predictions by image_id.",
            "give every image a unique id.",
        )
        for image_id in duplicates(d.get("image_id") for d in dicts)
    ]


def validate_dataset(cfg, dataset_name: str, max_images: int | None = None) -> list[Problem]:
    """Checks files, class ids, panoptic segment ids and metadata of ``dataset_name`` against ``cfg``.

    Args:
        cfg: config (``MODEL.SEM_SEG_HEAD.NUM_CLASSES``, ``MODEL.MASK_FORMER.TEST.*_ON``).
        dataset_name: a registered dataset.
        max_images: check only the first ``max_images`` images (None: all).

    Returns:
        the problems found (empty when the dataset is usable).
    """
    problems, dicts = load_and_check(cfg, dataset_name)
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    ignore = MetadataCatalog.get(dataset_name).get("ignore_label", 255)
    for record in dicts[:max_images]:
        problems += _check_record(record, num_classes, ignore)
    return problems


def load_and_check(cfg, dataset_name: str) -> tuple[list[Problem], list[dict]]:
    """The checks that need no image: metadata, annotation-file content, loading, ids, NUM_CLASSES.

    Returns:
        the problems, and the dataset dicts (empty when the dataset cannot be loaded).
    """
    meta = MetadataCatalog.get(dataset_name).as_dict()
    problems = _check_metadata(dataset_name, meta, cfg)
    content = _check_annotation_files(meta)
    try:
        dicts = DatasetCatalog.get(dataset_name)
    except (OSError, ValueError, KeyError) as e:
        if content:  # the loader refused the file for the problems listed
            return problems + content, []
        load = Problem(f"DatasetCatalog['{dataset_name}']", f"cannot be loaded: {e}", "see the message.")
        return [*problems, load], []
    problems += content + _check_unique_ids(dicts, dataset_name)
    if not dicts:
        problems.append(Problem(f"DatasetCatalog['{dataset_name}']", "is empty.", "check the dataset root."))
    return problems + check_num_classes(cfg, dataset_name), dicts


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: prints every problem; exit status 1 when there is any."""
    from maskformer.config import get_cfg
    from maskformer.data.datasets.builtin import register_datasets

    parser = argparse.ArgumentParser(description="Check registered datasets against a config.")
    parser.add_argument("--config-file", default="")
    parser.add_argument("--dataset", default=None, help="default: DATASETS.TRAIN and DATASETS.TEST")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--root", default=None, help="datasets root (default: $MASKFORMER_DATASETS)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = get_cfg()
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    register_datasets(cfg, args.root)
    names = [args.dataset] if args.dataset else list(dict.fromkeys([*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST]))
    if not names:
        parser.error("pass --dataset, or a config whose DATASETS.TRAIN / DATASETS.TEST name datasets")
    failed = False
    for name in names:
        problems = validate_dataset(cfg, name, args.max_images)
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in '{name}'.")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
