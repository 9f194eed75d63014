"""--resume robustness: deleted / truncated / unnamed checkpoints, refusals, temporaries, file mode,
non-finite weights, another architecture, a full disk and per-process RNG states."""

import logging
import os

import pytest
import torch
from torch import nn

from maskformer.checkpoint import Checkpointer
from maskformer.checkpoint import files as files_module


def _model(seed: int = 0, width: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.Linear(width, 2))


def _three_checkpoints(folder) -> list[nn.Module]:
    """Saves model_0000000/1/2 (each with other weights) and returns the models."""
    models = []
    for it in range(3):
        model = _model(seed=it)
        Checkpointer(model, str(folder)).save(f"model_{it:07d}", iteration=it)
        models.append(model)
    return models


def _resume(folder) -> tuple[nn.Module, Checkpointer, dict]:
    model = _model(seed=99)
    ckpt = Checkpointer(model, str(folder))
    return model, ckpt, ckpt.resume_or_load("", resume=True)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_deleted_newest_checkpoint_resumes_from_the_previous_one(tmp_path, package_log):
    models = _three_checkpoints(tmp_path)
    os.remove(tmp_path / "model_0000002.pth")
    model, ckpt, extra = _resume(tmp_path)
    assert extra["iteration"] == 1 and ckpt.resumed_from == str(tmp_path / "model_0000001.pth")
    assert _same(model, models[1])
    warning = next(r.getMessage() for r in package_log.records if r.levelno == logging.WARNING)
    assert "model_0000001.pth" in warning and "model_0000002.pth: does not exist" in warning


@pytest.mark.parametrize("size", [0, 100, "half"])
def test_truncated_newest_checkpoint_is_skipped_with_its_reason(tmp_path, package_log, size):
    models = _three_checkpoints(tmp_path)
    newest = tmp_path / "model_0000002.pth"
    content = newest.read_bytes()
    newest.write_bytes(content[: len(content) // 2 if size == "half" else size])
    model, ckpt, extra = _resume(tmp_path)
    assert extra["iteration"] == 1 and _same(model, models[1])
    reason = "is empty (0 bytes)" if size == 0 else "cannot be read"
    assert f"model_0000002.pth {reason}" in package_log.text


@pytest.mark.parametrize("pointer", [None, "", "   \n"])
def test_missing_or_empty_last_checkpoint_uses_the_newest_file(tmp_path, package_log, pointer):
    models = _three_checkpoints(tmp_path)
    Checkpointer(_model(seed=7), str(tmp_path)).save("model_final", iteration=5)
    Checkpointer(_model(seed=8), str(tmp_path)).save("model_0000003", iteration=3)  # last_checkpoint -> it
    if pointer is None:
        os.remove(tmp_path / "last_checkpoint")
    else:
        (tmp_path / "last_checkpoint").write_text(pointer)
    (tmp_path / "unrelated.pth").write_bytes(b"not a checkpoint")
    model, ckpt, extra = _resume(tmp_path)
    assert extra["iteration"] == 5 and ckpt.resumed_from.endswith("model_final.pth")  # final is newest
    assert _same(model, _model(seed=7)) and not _same(model, models[2])
    assert ("last_checkpoint: missing" if pointer is None else "last_checkpoint: empty") in package_log.text


def test_refuses_to_restart_when_checkpoints_exist_but_none_loads(tmp_path):
    _three_checkpoints(tmp_path)
    for name in ("model_0000000.pth", "model_0000001.pth", "model_0000002.pth"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RuntimeError, match="none can be loaded.*iteration 0") as info:
        _resume(tmp_path)
    assert str(info.value).count("cannot be read") == 3
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    for name in ("model_0000000.pth", "model_0000001.pth", "model_0000002.pth"):
        os.remove(tmp_path / name)
    with pytest.raises(RuntimeError, match="model_0000009.pth: does not exist"):
        _resume(tmp_path)


def test_empty_folder_starts_fresh_without_warning(tmp_path, package_log):
    model, ckpt, extra = _resume(tmp_path)
    assert extra == {} and ckpt.resumed_from == "" and _same(model, _model(seed=99))
    assert not [r for r in package_log.records if r.levelno >= logging.WARNING]


def test_stale_temporaries_are_removed_at_start_and_after_each_save(tmp_path):
    stale = [".model_0000004.pth.ab12cd_9.tmp", ".last_checkpoint.x1y2z3w4.tmp"]
    kept = ["notes.tmp", ".model_0000004.pth.tmp", "model_0000004.pth"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    ckpt = Checkpointer(_model(), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
    (tmp_path / stale[0]).write_bytes(b"x")  # e.g. another interrupted writer meanwhile
    ckpt.save("model_0000005", iteration=5)
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "last_checkpoint", "model_0000005.pth"])
    (tmp_path / stale[1]).write_bytes(b"x")
    Checkpointer(_model(), str(tmp_path), save_to_disk=False)  # a process that does not write
    assert (tmp_path / stale[1]).exists()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_checkpoints_get_the_umask_file_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = Checkpointer(_model(), str(tmp_path)).save("model_final", iteration=0)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode
    assert os.stat(tmp_path / "last_checkpoint").st_mode & 0o777 == mode


def test_non_finite_weights_are_never_saved_and_warned_about_on_load(tmp_path, package_log):
    model = _model()
    ckpt = Checkpointer(model, str(tmp_path))
    ckpt.save("model_0000000", iteration=0)
    with torch.no_grad():
        model[1].bias[0] = float("nan")
        model[0].weight[1, 1] = float("inf")
    with pytest.raises(FloatingPointError, match=r"2 of 4 model tensors hold NaN or Inf \(0.weight, 1.bias"):
        ckpt.save("model_0000001", iteration=1)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000000.pth"]
    data = torch.load(tmp_path / "model_0000000.pth", weights_only=True)
    data["model"] = model.state_dict()
    torch.save(data, tmp_path / "nan.pth")
    Checkpointer(_model(seed=1)).load(str(tmp_path / "nan.pth"))
    assert "nan.pth: 2 of 4 tensors hold NaN or Inf (0.weight, 1.bias)" in package_log.text


def test_resume_after_an_architecture_change_names_the_keys(tmp_path):
    model = _model(width=4)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    Checkpointer(model, str(tmp_path), optimizer=optimizer).save("model_0000000", iteration=0)
    wider = nn.Sequential(nn.Linear(3, 6), nn.Linear(6, 2), nn.ReLU(), nn.Linear(2, 2))
    ckpt = Checkpointer(wider, str(tmp_path), optimizer=torch.optim.AdamW(wider.parameters()))
    with pytest.raises(RuntimeError, match="another architecture") as info:
        ckpt.resume_or_load("", resume=True)
    message = str(info.value)
    assert "0.weight: file (4, 3), model (6, 3)" in message and "3.weight, 3.bias" in message


def test_full_disk_names_the_folder_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt = Checkpointer(_model(), str(tmp_path))
    first = ckpt.save("model_0000000", iteration=0)
    before = open(first, "rb").read()

    def full_disk_fdopen(fd, mode):  # the kernel's ENOSPC, from /dev/full
        os.close(fd)
        return open("/dev/full", mode)

    monkeypatch.setattr(files_module.os, "fdopen", full_disk_fdopen)
    with pytest.raises(OSError, match=f"no space left on {tmp_path}") as info:
        ckpt.save("model_0000001", iteration=1)
    monkeypatch.undo()
    assert info.value.errno == 28 and "model_0000001.pth" in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000000.pth"]
    assert open(first, "rb").read() == before


def test_rng_states_are_restored_only_for_the_same_number_of_processes(tmp_path, package_log):
    model = _model()
    Checkpointer(model, str(tmp_path)).save("model_0000000", iteration=0)
    saved = torch.load(tmp_path / "model_0000000.pth", weights_only=True)["rng"]
    assert isinstance(saved, list) and len(saved) == 1  # one entry per process
    expected = torch.rand(3)
    ckpt = Checkpointer(_model())
    ckpt.restore_rng(saved)
    assert torch.equal(torch.rand(3), expected)
    ckpt.restore_rng(saved[0])  # files of earlier versions: the main process's states only
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(5)
    expected_unrestored = torch.rand(3)
    torch.manual_seed(5)
    ckpt.restore_rng(saved * 2)
    assert torch.equal(torch.rand(3), expected_unrestored)
    assert "RNG states of 2 process(es), this run has 1: RNG states are not restored" in package_log.text
