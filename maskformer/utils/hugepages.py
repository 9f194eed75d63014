"""Large output tensors whose first write is cheap: transparent huge pages on Linux.

Full-resolution post-processing writes a few hundred MB into fresh memory per image (the mask
logits resized to the image, the semantic scores). glibc maps such allocations anew each time, so
every 4 KiB page faults on its first write: at 800x1088 that was a third of the post-processing
time. Marking the fresh mapping ``MADV_HUGEPAGE`` before it is written lets the kernel back it with
2 MiB pages (512x fewer faults) wherever transparent huge pages are enabled ("always" or
"madvise" in ``/sys/kernel/mm/transparent_hugepage/enabled``). It is only a hint: elsewhere, or
when it fails, the tensor is a plain ``torch.empty`` and nothing else changes.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable, Sequence

import torch

__all__ = ["empty_for_writing"]

_HUGE_PAGE = 2 << 20
# glibc's largest dynamic mmap threshold (64-bit): with its default policy, allocations this large
# always get a fresh, untouched mapping of their own. A process that raised the threshold (mallopt,
# MALLOC_MMAP_THRESHOLD_) gets them from its heap instead: the hint then also covers whatever that
# memory holds later, which changes its page size and nothing else.
_MIN_BYTES = 32 << 20
_MADV_HUGEPAGE = 14


@functools.lru_cache(maxsize=1)
def _madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def empty_for_writing(
    size: Sequence[int], dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``torch.empty(size)``, backed by huge pages when it is a large CPU tensor (see module doc).

    Args:
        size: the shape.
        dtype: the element type.
        device: where it lives; only CPU tensors of at least 32 MiB get the hint.

    Returns:
        An uninitialised tensor, to be written in full by the caller.
    """
    out = torch.empty(tuple(size), dtype=dtype, device=device)
    nbytes = out.numel() * out.element_size()
    madvise = _madvise()
    if out.device.type != "cpu" or nbytes < _MIN_BYTES or madvise is None:
        return out
    # The whole huge pages inside the allocation (its first and last partial ones stay small).
    start = -(-out.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE
    end = (out.data_ptr() + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    madvise(start, end - start, _MADV_HUGEPAGE)  # its result is ignored: a refused hint changes nothing
    return out
