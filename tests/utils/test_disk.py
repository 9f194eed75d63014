"""A full disk (the kernel's ENOSPC from /dev/full) is reported as "no space left on <folder>"."""

import errno
import os

import pytest

from maskformer.utils.disk import explain_disk_full
from maskformer.utils.events import EventStorage, JSONWriter


def test_full_disk_error_names_the_folder_and_keeps_the_errno(tmp_path):
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(OSError, match=f"Cannot write {target}: no space left on {target.parent}") as info:
        with explain_disk_full(str(target)), open("/dev/full", "wb") as f:
            f.write(b"x" * 10)
            f.flush()
    assert info.value.errno == errno.ENOSPC and isinstance(info.value.__cause__, OSError)
    with pytest.raises(OSError, match="disk quota exceeded on"):
        with explain_disk_full(str(target)):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    with pytest.raises(FileNotFoundError):  # other errors pass through unchanged
        with explain_disk_full(str(target)):
            open(tmp_path / "missing" / "x")


def test_metrics_writer_on_a_full_disk(tmp_path):
    path = tmp_path / "metrics.json"
    writer = JSONWriter(str(path))
    with EventStorage() as storage:
        storage.put_scalar("loss", 1.0)
        writer.write()
        storage.step()
        storage.put_scalar("loss", 2.0)
        writer._file.close()
        writer._file = open("/dev/full", "a")  # noqa: SIM115 - the disk fills up now
        with pytest.raises(OSError, match=f"Cannot write {path}: no space left on {tmp_path}"):
            writer.write()
    assert path.read_text().count("\n") == 1
