"""A list of dataset dicts stored as one pickled byte buffer.

Worker processes forked from the main process share its memory copy-on-write, but merely reading
a Python object updates its reference count and copies its page: with 100k+ COCO dicts each worker
slowly duplicates the whole list. One numpy byte buffer has no per-item reference counts, so it
stays shared (Detectron2 does the same).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

__all__ = ["SerializedList"]


class SerializedList:
    """Read-only sequence of picklable items; ``[i]`` returns a fresh copy of item ``i``."""

    def __init__(self, items: list[Any]) -> None:
        blobs = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._buffer = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        start = int(self._ends[index - 1]) if index > 0 else 0
        return pickle.loads(memoryview(self._buffer[start : int(self._ends[index])]))
