"""``Instances``: a set of per-object fields of one image (targets or predictions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["Instances"]


class Instances:
    """Per-object fields that all have the same length, plus the image size.

    Used for targets (``gt_classes [N]`` int64, ``gt_masks [N, H, W]`` bool) and predictions
    (``pred_masks [N, H, W]``, ``scores [N]``, ``pred_classes [N]``, ``pred_boxes [N, 4]``
    XYXY absolute).

    Args:
        image_size: ``(height, width)`` of the image the fields refer to.
        **fields: initial fields.
    """

    def __init__(self, image_size: tuple[int, int], **fields: Any) -> None:
        self._image_size = (int(image_size[0]), int(image_size[1]))
        self._fields: dict[str, Any] = {}
        for name, value in fields.items():
            self.set(name, value)

    @property
    def image_size(self) -> tuple[int, int]:
        return self._image_size

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            self.set(name, value)

    def __getattr__(self, name: str) -> Any:
        if name == "_fields" or name not in self._fields:
            raise AttributeError(f"Cannot find field '{name}' in the given Instances.")
        return self._fields[name]

    def set(self, name: str, value: Any) -> None:
        """Sets a field; its length must equal the length of the existing fields."""
        if self._fields and len(value) != len(self):
            raise ValueError(
                f"Field '{name}' has length {len(value)}, but the Instances have length {len(self)}."
            )
        self._fields[name] = value

    def has(self, name: str) -> bool:
        return name in self._fields

    def get(self, name: str) -> Any:
        return self._fields[name]

    def remove(self, name: str) -> None:
        del self._fields[name]

    def get_fields(self) -> dict[str, Any]:
        return self._fields

    def to(self, *args: Any, **kwargs: Any) -> Instances:
        """Moves every tensor field (e.g. ``.to(device)``)."""
        out = Instances(self._image_size)
        for name, value in self._fields.items():
            out.set(name, value.to(*args, **kwargs) if hasattr(value, "to") else value)
        return out

    def __getitem__(self, item: int | slice | torch.Tensor) -> Instances:
        if isinstance(item, int):
            item = slice(item, item + 1 if item != -1 else None)
        out = Instances(self._image_size)
        for name, value in self._fields.items():
            out.set(name, value[item])
        return out

    def __len__(self) -> int:
        for value in self._fields.values():
            return len(value)
        return 0

    def __iter__(self) -> Iterator:
        raise NotImplementedError("Instances cannot be iterated; index it instead.")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}: {tuple(getattr(v, 'shape', (len(v),)))}" for k, v in self._fields.items())
        return f"Instances(num_instances={len(self)}, image_size={self._image_size}, fields=[{fields}])"
