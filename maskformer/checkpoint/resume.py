"""Choosing the checkpoint that ``--resume`` continues from, without trusting a single file.

``last_checkpoint`` names the newest checkpoint. When it is missing, empty, or names a file that
is gone or cannot be read (truncated, not a checkpoint), the newest loadable ``*.pth`` of the
folder is used instead, with a warning naming every file skipped and why. When the folder shows a
previous run (a ``last_checkpoint`` or ``*.pth`` files) but nothing loads, resuming is refused
rather than silently starting again from iteration 0.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import torch

__all__ = ["FORMAT_MARKER", "LAST_CHECKPOINT", "find_resume_checkpoint", "read_training_checkpoint"]

FORMAT_MARKER = "__maskformer_checkpoint__"  # our own files: names need no conversion
LAST_CHECKPOINT = "last_checkpoint"
_ITERATION_IN_NAME = re.compile(r"_(\d+)\.pth$")
logger = logging.getLogger(__name__)


def read_training_checkpoint(path: str) -> dict[str, Any]:
    """Reads a ``.pth`` written by ``Checkpointer.save`` (``weights_only``, on the CPU).

    Raises:
        ValueError: naming the file when it is empty, truncated, or not such a checkpoint.
    """
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, ...: the reason goes into the message
        raise ValueError(f"{path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0]})") from e
    if not isinstance(data, dict) or not data.get(FORMAT_MARKER) or "model" not in data:
        raise ValueError(f"{path} is not a training checkpoint written by maskformer's Checkpointer")
    return data


def _newest_first(save_dir: str) -> list[str]:
    """The ``*.pth`` files of ``save_dir``: ``*_final.pth``, then by iteration in the name, then by age."""

    def key(name: str) -> tuple[int, float]:
        if name.endswith("_final.pth"):
            return (2, 0.0)
        match = _ITERATION_IN_NAME.search(name)
        if match:
            return (1, float(match.group(1)))
        return (0, os.path.getmtime(os.path.join(save_dir, name)))

    names = [n for n in os.listdir(save_dir) if n.endswith(".pth") and not n.startswith(".")]
    return [os.path.join(save_dir, n) for n in sorted(names, key=key, reverse=True)]


def _named_by_pointer(save_dir: str, skipped: list[str]) -> str | None:
    """The file ``last_checkpoint`` names (None when it is missing or empty, noted in ``skipped``)."""
    pointer = os.path.join(save_dir, LAST_CHECKPOINT)
    if not os.path.isfile(pointer):
        skipped.append(f"{pointer}: missing")
        return None
    with open(pointer) as f:
        name = f.read().strip()
    if not name:
        skipped.append(f"{pointer}: empty")
        return None
    return os.path.join(save_dir, name)


def find_resume_checkpoint(save_dir: str) -> tuple[str, dict[str, Any]] | None:
    """The checkpoint to resume from and its content.

    Args:
        save_dir: the folder of checkpoints (OUTPUT_DIR).

    Returns:
        ``(path, data)``, or None when the folder holds no trace of a previous run.

    Raises:
        RuntimeError: the folder holds ``last_checkpoint`` or ``*.pth`` files but none loads; the
            message lists each file and why it was rejected.
    """
    if not save_dir or not os.path.isdir(save_dir):
        return None
    skipped: list[str] = []
    named = _named_by_pointer(save_dir, skipped)
    files = _newest_first(save_dir)
    if named is None and not files:
        return None
    for path in ([named] if named else []) + [f for f in files if f != named]:
        if not os.path.isfile(path):
            skipped.append(f"{path}: does not exist")
            continue
        try:
            data = read_training_checkpoint(path)
        except ValueError as e:
            skipped.append(str(e))
            continue
        if skipped:
            reasons = "; ".join(skipped)
            logger.warning(f"Resuming from {path}, the newest loadable checkpoint. Skipped: {reasons}")
        return path, data
    reasons = "\n  ".join(skipped)
    raise RuntimeError(
        f"--resume: {save_dir} holds checkpoints but none can be loaded, and training will not silently "
        f"start again from iteration 0:\n  {reasons}\nDelete these files (or choose another OUTPUT_DIR) "
        "to start over, or run without --resume to start from MODEL.WEIGHTS."
    )
