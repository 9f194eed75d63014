"""``DatasetCatalog`` and ``MetadataCatalog``: dataset names -> loader functions and metadata."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["DatasetCatalog", "Metadata", "MetadataCatalog"]

logger = logging.getLogger(__name__)


def _unknown_name_error(kind: str, name: str, known: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {close}?" if close else ""
    return KeyError(
        f"{kind} '{name}' is not registered.{hint} Call maskformer.data.register_builtin_datasets() for "
        f"the built-in splits, or register_coco_panoptic / register_coco_instances / register_sem_seg for "
        f"your own data. {len(known)} names are registered."
    )


class _NameTable:
    """A table keyed by dataset name: listing, removal and membership."""

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {}

    def list(self) -> list[str]:
        """Names in the table, sorted."""
        return sorted(self._entries)

    def remove(self, name: str) -> None:
        self._entries.pop(name)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


class _DatasetCatalog(_NameTable):
    """Maps a dataset name to a function returning its list of dataset dicts (Detectron2 fields)."""

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        """Registers ``func`` under ``name``; a name may be registered only once."""
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register('{name}', ...) needs a callable, got {type(func)}.")
        if name in self._entries:
            raise ValueError(f"Dataset '{name}' is already registered; call DatasetCatalog.remove first.")
        self._entries[name] = func

    def get(self, name: str) -> list[dict]:
        """Calls the loader of ``name`` and returns its dataset dicts.

        Raises:
            FileNotFoundError: a file of the dataset is missing; the message names the dataset and,
                when its metadata has ``missing_files_hint``, where files are looked for and the
                datasets/README.md section that prepares them.
        """
        if name not in self._entries:
            raise _unknown_name_error("Dataset", name, self.list())
        try:
            return self._entries[name]()
        except FileNotFoundError as e:
            hint = MetadataCatalog.get(name).get("missing_files_hint")
            if hint is None or str(e).startswith(f"Dataset '{name}'"):
                raise
            raise FileNotFoundError(f"Dataset '{name}': {e} {hint}") from e


class Metadata:
    """Attributes describing a dataset (class names, colours, id maps, evaluator_type, paths ...).

    An attribute can be set once; setting it again to a different value is an error, so that two
    registrations cannot silently disagree.
    """

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        known = sorted(k for k in self.__dict__ if k != "name")
        raise AttributeError(
            f"Metadata of dataset '{self.name}' has no attribute '{key}'. Available: {known}."
        )

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__ and self.__dict__[key] != value:
            raise ValueError(
                f"Metadata '{key}' of dataset '{self.name}' is already {self.__dict__[key]!r}; "
                f"refusing to change it to {value!r}."
            )
        object.__setattr__(self, key, value)

    def set(self, **kwargs: Any) -> Metadata:
        for key, value in kwargs.items():
            setattr(self, key, value)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _MetadataCatalog(_NameTable):
    """Maps a dataset name to its :class:`Metadata` (created empty on first access)."""

    def get(self, name: str) -> Metadata:
        if name not in self._entries:
            self._entries[name] = Metadata(name)
        return self._entries[name]


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()
