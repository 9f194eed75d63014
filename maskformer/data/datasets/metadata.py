"""Category tables (``metadata/*.json``) and the metadata fields derived from them."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

__all__ = ["instance_metadata", "load_categories", "panoptic_metadata", "semantic_metadata"]

_METADATA_DIR = os.path.join(os.path.dirname(__file__), "metadata")


@functools.cache
def _read_table(name: str) -> tuple:
    path = os.path.join(_METADATA_DIR, f"{name}.json")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(_METADATA_DIR) if f.endswith(".json"))
        raise FileNotFoundError(f"No category table '{path}'. Known tables: {known}.")
    with open(path) as f:
        return tuple(json.load(f))


def load_categories(name: str) -> list[dict[str, Any]]:
    """Category table ``name`` as a list of ``{"id", "name", "isthing"?, "color"?}`` dicts (a copy)."""
    return [dict(c) for c in _read_table(name)]


def _colors(categories: list[dict]) -> list[list[int]]:
    return [list(c.get("color", [0, 0, 0])) for c in categories]


def panoptic_metadata(categories: list[dict[str, Any]], all_thing_classes: bool = False) -> dict[str, Any]:
    """Metadata of a panoptic dataset, laid out as the official Mask2Former registrations do.

    Contiguous ids run over all categories in table order. The thing map holds the things only;
    the stuff map holds every category so that the semantic evaluator can score all of them.
    ``thing_classes`` lists the things (COCO, ADE20K) or every category (``all_thing_classes``,
    Mapillary Vistas), as the official registrations do; ``stuff_classes`` lists every category.
    """
    things = categories if all_thing_classes else [c for c in categories if c["isthing"]]
    return {
        "thing_classes": [c["name"] for c in things],
        "thing_colors": _colors(things),
        "stuff_classes": [c["name"] for c in categories],
        "stuff_colors": _colors(categories),
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories) if c["isthing"]},
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories)},
    }


def instance_metadata(categories: list[dict[str, Any]]) -> dict[str, Any]:
    """Metadata of an instance dataset: things only, contiguous ids in table order."""
    things = [c for c in categories if c.get("isthing", 1)]
    return {
        "thing_classes": [c["name"] for c in things],
        "thing_colors": _colors(things),
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(things)},
    }


def semantic_metadata(categories: list[dict[str, Any]]) -> dict[str, Any]:
    """Metadata of a semantic dataset whose label maps already hold contiguous ids 0..K-1."""
    return {"stuff_classes": [c["name"] for c in categories], "stuff_colors": _colors(categories)}
