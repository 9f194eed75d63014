"""Turning a full disk (ENOSPC) or exhausted quota (EDQUOT) into an error that names the place."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["explain_disk_full"]

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@contextmanager
def explain_disk_full(path: str) -> Iterator[None]:
    """Re-raises a full-disk ``OSError`` inside the block as "no space left on <folder of path>".

    Args:
        path: the file being written.

    Raises:
        OSError: with the same errno, naming ``path`` and its folder and what to do.
    """
    try:
        yield
    except OSError as e:
        if e.errno not in _FULL:
            raise
        folder = os.path.dirname(os.path.abspath(path))
        what = "no space left on" if e.errno == errno.ENOSPC else "disk quota exceeded on"
        raise OSError(
            e.errno,
            f"Cannot write {path}: {what} {folder} ({os.strerror(e.errno)}). Free space there or point "
            "OUTPUT_DIR at a disk with room.",
        ) from e
