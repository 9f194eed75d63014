"""empty_for_writing: a plain empty tensor, with the huge-page hint on large CPU ones (Linux)."""

import sys

import pytest
import torch

from maskformer.utils.hugepages import empty_for_writing


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise hints are Linux-only")
def test_large_tensors_get_the_huge_page_hint_and_small_ones_do_not():
    large = empty_for_writing((40 << 20,), torch.uint8)  # 40 MiB: a mapping of its own
    middle = large.data_ptr() + (20 << 20)
    assert "hg" in _vm_flags(middle)
    large.fill_(7)  # writable like any tensor
    assert int(large[middle - large.data_ptr()]) == 7
    small = empty_for_writing((1 << 20,), torch.uint8)  # 1 MiB: glibc's heap, left alone
    assert "hg" not in _vm_flags(small.data_ptr())
