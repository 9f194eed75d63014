"""Datasets declared in the config (``DATASETS.REGISTER``): registration without Python code.

Each entry of ``DATASETS.REGISTER`` is a mapping, e.g. in YAML::

    DATASETS:
      REGISTER:
        - name: pets_train_panoptic
          format: coco_panoptic          # coco_panoptic | coco_instance | sem_seg
          image_root: pets/images/train
          panoptic_root: pets/panoptic_train
          panoptic_json: pets/annotations/panoptic_train.json
          instances_json: pets/annotations/instances_train.json   # optional: mask AP
          sem_seg_root: pets/panoptic_semseg_train                # optional: mIoU from PNGs
          categories: pets/categories.json   # or an inline list; default: the JSON's categories

Relative paths are relative to the datasets root (``$MASKFORMER_DATASETS``, else
``$DETECTRON2_DATASETS``, else ``./datasets``). Categories come from ``categories`` (a JSON file:
a list of ``{"id", "name", "isthing"?, "color"?}`` or any COCO JSON with a ``categories`` list;
or the same list inline), or ``classes`` (a list of names: ids 1..K for the COCO formats, label
values 0..K-1 for ``sem_seg``) with ``things`` (the names that are things; panoptic only), or,
for the COCO formats, the annotation JSON's own ``categories``.
"""

from __future__ import annotations

import colorsys
import difflib
import json
import logging
import os
from collections.abc import Mapping

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.coco_instances import register_coco_instances
from maskformer.data.datasets.coco_panoptic import register_coco_panoptic
from maskformer.data.datasets.metadata import instance_metadata, panoptic_metadata, semantic_metadata
from maskformer.data.datasets.sem_seg import register_sem_seg

__all__ = ["OWN_DATA_SECTION", "missing_files_hint", "register_datasets_from_config"]

logger = logging.getLogger(__name__)

OWN_DATA_SECTION = "Your own data"
_PATH_KEYS = {
    "coco_panoptic": (("image_root", "panoptic_root", "panoptic_json"), ("instances_json", "sem_seg_root")),
    "coco_instance": (("image_root", "json_file"), ()),
    "sem_seg": (("image_root", "sem_seg_root"), ()),
}
_OTHER_KEYS = ("name", "format", "categories", "classes", "things", "ignore_label", "evaluator_type")
_EXT_KEYS = ("image_ext", "gt_ext")


def missing_files_hint(root: str, section: str) -> str:
    """The sentence appended to a missing-file error: where files are looked for, how to prepare them."""
    return (
        f"The datasets root is '{root}' (from $MASKFORMER_DATASETS, else $DETECTRON2_DATASETS, else "
        f"./datasets; relative dataset paths start there); see the section '{section}' of "
        "datasets/README.md for the expected layout and how to prepare it."
    )


def _entry_error(index: int, entry: Mapping, message: str) -> ValueError:
    name = entry.get("name", "?") if isinstance(entry, Mapping) else "?"
    return ValueError(
        f"DATASETS.REGISTER[{index}] (name '{name}'): {message} See '{OWN_DATA_SECTION}' in "
        "datasets/README.md."
    )


def _check_keys(index: int, entry: Mapping) -> str:
    """Validates the entry's keys; returns its format."""
    fmt = entry.get("format")
    if fmt not in _PATH_KEYS:
        raise _entry_error(index, entry, f"'format' is {fmt!r}; use one of {sorted(_PATH_KEYS)}.")
    required, optional = _PATH_KEYS[fmt]
    allowed = {*required, *optional, *_OTHER_KEYS, *(_EXT_KEYS if fmt == "sem_seg" else ())}
    for key in entry:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _entry_error(index, entry, f"unknown key '{key}' for format '{fmt}'.{hint}")
    missing = [key for key in ("name", *required) if not entry.get(key)]
    if missing:
        raise _entry_error(index, entry, f"format '{fmt}' needs {missing}.")
    return fmt


def _palette(count: int) -> list[list[int]]:
    """``count`` distinct RGB colours (hues spread by the golden ratio)."""
    hues = [(i * 0.618033988749895) % 1.0 for i in range(count)]
    return [[int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.75, 0.95)] for h in hues]


def _read_categories(path: str) -> list[dict]:
    with open(path) as f:
        data = json.load(f)
    categories = data.get("categories") if isinstance(data, dict) else data
    if not isinstance(categories, list):
        raise ValueError(f"'{path}' holds neither a list of categories nor a 'categories' list.")
    return categories


def _categories(index: int, entry: Mapping, fmt: str, paths: dict[str, str], root: str) -> list[dict]:
    """The entry's category table: ``[{"id", "name", "isthing", "color"}]`` in contiguous-id order."""
    if "categories" in entry:
        raw = entry["categories"]
        categories = _read_categories(_resolve(root, raw)) if isinstance(raw, str) else raw
    elif "classes" in entry:
        things = set(entry.get("things", entry["classes"] if fmt == "coco_instance" else []))
        unknown = sorted(things - set(entry["classes"]))
        if unknown:
            raise _entry_error(index, entry, f"'things' names {unknown}, which are not in 'classes'.")
        start = 0 if fmt == "sem_seg" else 1
        categories = [
            {"id": start + i, "name": n, "isthing": int(n in things)} for i, n in enumerate(entry["classes"])
        ]
    elif fmt == "sem_seg":
        raise _entry_error(index, entry, "needs 'categories' or 'classes' (the label values' names).")
    else:
        key = "panoptic_json" if fmt == "coco_panoptic" else "json_file"
        if not os.path.isfile(paths[key]):
            raise FileNotFoundError(
                f"DATASETS.REGISTER[{index}] (dataset '{entry['name']}'): the categories come from {key} "
                f"'{paths[key]}', which does not exist (or give 'categories'). "
                + missing_files_hint(root, OWN_DATA_SECTION)
            )
        categories = _read_categories(paths[key])
    return _normalise(index, entry, categories)


def _normalise(index: int, entry: Mapping, categories: list) -> list[dict]:
    if not categories:
        raise _entry_error(index, entry, "has no categories.")
    colors = _palette(len(categories))
    table = []
    for i, c in enumerate(categories):
        if not isinstance(c, Mapping) or "id" not in c or "name" not in c:
            raise _entry_error(index, entry, f"category {i} ({c!r}) needs at least 'id' and 'name'.")
        table.append(
            {
                "id": int(c["id"]),
                "name": str(c["name"]),
                "isthing": int(c.get("isthing", 1)),
                "color": list(c.get("color", colors[i])),
            }
        )
    ids = [c["id"] for c in table]
    if len(set(ids)) != len(ids):
        raise _entry_error(index, entry, f"category ids {ids} are not unique.")
    return table


def _resolve(root: str, path: str) -> str:
    return os.path.join(root, os.path.expanduser(str(path)))


def _register_entry(index: int, entry: Mapping, root: str) -> str:
    if not isinstance(entry, Mapping):
        raise _entry_error(index, {}, f"is {entry!r}; each entry is a mapping with 'name' and 'format'.")
    fmt = _check_keys(index, entry)
    required, optional = _PATH_KEYS[fmt]
    paths = {key: _resolve(root, entry[key]) for key in (*required, *optional) if entry.get(key)}
    name = str(entry["name"])
    categories = _categories(index, entry, fmt, paths, root)
    ignore = int(entry.get("ignore_label", 255))
    extra = {"evaluator_type": entry["evaluator_type"]} if "evaluator_type" in entry else {}
    if fmt == "coco_panoptic":
        register_coco_panoptic(
            name,
            panoptic_metadata(categories),
            paths["image_root"],
            paths["panoptic_root"],
            paths["panoptic_json"],
            paths.get("sem_seg_root"),
            paths.get("instances_json"),
            ignore_label=ignore,
            **extra,
        )
    elif fmt == "coco_instance":
        meta = instance_metadata(categories)
        register_coco_instances(name, meta, paths["json_file"], paths["image_root"], **extra)
    else:
        exts = {key: str(entry[key]) for key in _EXT_KEYS if key in entry}
        ids = sorted(c["id"] for c in categories)
        if ids != list(range(len(ids))):
            raise _entry_error(index, entry, f"sem_seg category ids {ids} must be the label values 0..K-1.")
        meta = semantic_metadata(sorted(categories, key=lambda c: c["id"]))
        root_args = (paths["image_root"], paths["sem_seg_root"])
        register_sem_seg(name, meta, *root_args, ignore_label=ignore, **exts, **extra)
    MetadataCatalog.get(name).set(missing_files_hint=missing_files_hint(root, OWN_DATA_SECTION))
    return name


def register_datasets_from_config(cfg, root: str | None = None) -> list[str]:
    """Registers every ``DATASETS.REGISTER`` entry of ``cfg`` (see the module docstring).

    Safe to call repeatedly in one process: names already registered are skipped.

    Args:
        cfg: the config.
        root: datasets root for relative paths (default: :func:`datasets_root`).

    Returns:
        the names registered by this call.

    Raises:
        ValueError: an entry is malformed; the message names the entry, the key and the fix.
    """
    from maskformer.data.datasets.builtin import datasets_root

    root = datasets_root(root)
    registered = []
    for index, entry in enumerate(cfg.DATASETS.get("REGISTER", [])):
        if isinstance(entry, Mapping) and entry.get("name") in DatasetCatalog:
            continue
        registered.append(_register_entry(index, entry, root))
    if registered:
        logger.info("Registered %d datasets from DATASETS.REGISTER: %s", len(registered), registered)
    return registered
