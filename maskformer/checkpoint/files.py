"""Writing checkpoint files safely: atomic replace, the user's file mode, clear full-disk errors.

A file is written to a temporary name next to its destination and renamed onto it, so a reader
never sees a half-written file. A process killed during a write leaves the temporary file
behind; ``remove_stale_temporaries`` deletes such leftovers.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from typing import IO

from maskformer.utils.disk import explain_disk_full

__all__ = ["atomic_write", "remove_stale_temporaries"]

_TMP_SUFFIX = ".tmp"
# ".<name>.<8 random characters of mkstemp>.tmp", for checkpoints and the last_checkpoint pointer.
_TMP_PATTERN = re.compile(r"^\.(.+\.pth|last_checkpoint)\.[A-Za-z0-9_]{8}\.tmp$")


def _default_file_mode() -> int:
    """The mode ``open()`` gives new files: 0o666 minus the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str, write: Callable[[IO[bytes]], object]) -> None:
    """Calls ``write(file)`` on a temporary file next to ``path``, then renames it onto ``path``.

    The file gets the mode of a normally created file (umask applied), not ``mkstemp``'s 0600.

    Raises:
        OSError: "no space left on <folder>" when the disk or quota is full (the temporary file
            is removed and ``path`` is left as it was).
    """
    directory = os.path.dirname(os.path.abspath(path))
    with explain_disk_full(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=_TMP_SUFFIX, dir=directory)
        try:
            os.fchmod(fd, _default_file_mode())
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def remove_stale_temporaries(directory: str) -> list[str]:
    """Deletes temporary files that interrupted ``atomic_write`` calls left in ``directory``.

    Only names of the form ``.<checkpoint>.pth.<random>.tmp`` and ``.last_checkpoint.<random>.tmp``
    are touched. Call it when no other process is writing checkpoints to ``directory``.

    Returns:
        The paths removed.
    """
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if _TMP_PATTERN.match(name):
            path = os.path.join(directory, name)
            try:
                os.remove(path)
            except FileNotFoundError:  # removed by someone else meanwhile
                continue
            removed.append(path)
    return removed
