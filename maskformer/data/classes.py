"""Class names, thing ids and colours of a dataset: what inference and drawing need from metadata.

Contiguous ids index ``names``: for panoptic and semantic datasets ``stuff_classes`` lists every
class (the official registrations' convention), for instance datasets ``thing_classes`` does. The
thing ids come from ``thing_dataset_id_to_contiguous_id``; a semantic dataset does not know them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maskformer.data.catalog import Metadata, MetadataCatalog
from maskformer.utils.visualizer import Color, default_colors

__all__ = ["ClassInfo", "config_class_info", "config_thing_ids", "metadata_thing_ids"]


@dataclass(frozen=True)
class ClassInfo:
    """The classes a model predicts.

    Attributes:
        names: contiguous id -> class name (``K`` entries).
        thing_ids: contiguous ids of the thing classes; None when unknown (semantic datasets).
        colors: contiguous id -> RGB colour.
    """

    names: tuple[str, ...]
    thing_ids: tuple[int, ...] | None
    colors: tuple[Color, ...]

    def __post_init__(self) -> None:
        if len(self.colors) != len(self.names):
            raise ValueError(f"{len(self.colors)} class colours given for {len(self.names)} class names.")
        bad = [i for i in self.thing_ids or () if not 0 <= i < len(self.names)]
        if bad:
            raise ValueError(f"Thing ids {bad} are outside the {len(self.names)} classes {list(self.names)}.")

    @classmethod
    def create(
        cls,
        names: Sequence[str],
        thing_ids: Sequence[int] | None = None,
        colors: Sequence[Sequence[int]] | None = None,
    ) -> ClassInfo:
        """Classes given by hand (no registered dataset); missing colours get :func:`default_colors`."""
        palette = default_colors(len(names)) if colors is None else colors
        return cls(
            tuple(str(n) for n in names),
            None if thing_ids is None else tuple(sorted({int(i) for i in thing_ids})),
            tuple((int(c[0]), int(c[1]), int(c[2])) for c in palette),
        )

    @classmethod
    def from_metadata(cls, metadata: Metadata) -> ClassInfo:
        """Reads ``stuff_classes`` / ``thing_classes``, their colours and the thing id map."""
        key = "stuff" if metadata.get("stuff_classes") else "thing"
        names = metadata.get(f"{key}_classes")
        if not names:
            raise ValueError(
                f"Dataset '{metadata.name}' has neither stuff_classes nor thing_classes in its metadata; "
                "register it with maskformer.data.register_* or pass the class names explicitly."
            )
        colors = metadata.get(f"{key}_colors")
        return cls.create(
            names, metadata_thing_ids(metadata), colors if colors and len(colors) == len(names) else None
        )

    def isthing(self, class_id: int) -> bool:
        return self.thing_ids is not None and class_id in self.thing_ids


def metadata_thing_ids(metadata: Metadata | Mapping[str, Any]) -> list[int] | None:
    """Contiguous ids of the thing classes: the values of ``thing_dataset_id_to_contiguous_id``, sorted.

    Args:
        metadata: a dataset's :class:`Metadata`, or a dict with the same fields (e.g.
            ``panoptic_metadata(load_categories("coco_panoptic"))`` for a model without its dataset).

    Returns:
        The ids, or None when the metadata has no (or an empty) thing map: semantic datasets.
    """
    thing_map = metadata.get("thing_dataset_id_to_contiguous_id")
    return sorted(int(i) for i in thing_map.values()) if thing_map else None


def config_class_info(cfg) -> ClassInfo | None:
    """Classes of the first registered dataset of ``DATASETS.TEST`` then ``DATASETS.TRAIN`` (None: none)."""
    for name in [*cfg.DATASETS.TEST, *cfg.DATASETS.TRAIN]:
        if name in MetadataCatalog:
            meta = MetadataCatalog.get(name)
            if meta.get("stuff_classes") or meta.get("thing_classes"):
                return ClassInfo.from_metadata(meta)
    return None


def config_thing_ids(cfg) -> list[int] | None:
    """Thing ids of the config's datasets (see :func:`config_class_info`); None when unknown."""
    info = config_class_info(cfg)
    return None if info is None or info.thing_ids is None else list(info.thing_ids)
