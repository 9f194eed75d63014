"""empty_for_writing: a plain empty tensor, with the huge-page hint on large CPU ones (Linux)."""

import sys

import pytest
import torch

from maskformer.utils import hugepages
from maskformer.utils.hugepages import empty_for_writing

HUGE_PAGE = 2 << 20


def _vm_flags(address: int) -> list[str]:
    """The ``VmFlags`` of this process's mapping that holds ``address`` (``/proc/self/smaps``)."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(v, 16) for v in head.split("-"))
                inside = start <= address < end
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_shape_and_dtype(dtype):
    out = empty_for_writing((3, 4, 5), dtype)
    assert out.shape == (3, 4, 5) and out.dtype == dtype and out.is_contiguous()


def test_only_the_whole_huge_pages_of_large_tensors_are_hinted(monkeypatch):
    calls = []

    def madvise(start, length, advice):
        calls.append((start, length, advice))
        return 0

    monkeypatch.setattr(hugepages, "_madvise", lambda: madvise)
    empty_for_writing((1 << 20,), torch.uint8)  # 1 MiB: left alone
    assert calls == []
    large = empty_for_writing((33 << 20,), torch.uint8)
    ((start, length, advice),) = calls
    assert advice == 14  # MADV_HUGEPAGE
    begin, end = large.data_ptr(), large.data_ptr() + large.numel()
    assert start % HUGE_PAGE == 0 and length % HUGE_PAGE == 0 and length >= 30 << 20
    assert begin <= start < begin + HUGE_PAGE and end - HUGE_PAGE < start + length <= end


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise hints are Linux-only")
def test_the_kernel_takes_the_hint():
    large = empty_for_writing((40 << 20,), torch.uint8)
    middle = large.data_ptr() + (20 << 20)
    assert "hg" in _vm_flags(middle)
    large.fill_(7)  # writable like any tensor
    assert int(large[middle - large.data_ptr()]) == 7
