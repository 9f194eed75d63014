"""Checkpointer: round trip, atomic save, resume vs. weights-only loading, key reports."""

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from maskformer.checkpoint import Checkpointer, convert, download
from maskformer.checkpoint import checkpointer as checkpointer_module
from maskformer.solver import WarmupPolyLR


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _train_a_bit(model: nn.Module, optimizer, scheduler, steps: int = 3) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(5, 3)).square().sum().backward()
        optimizer.step()
        scheduler.step()


def _setup(seed: int = 0):
    model = _model(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = WarmupPolyLR(optimizer, max_iters=10, warmup_iters=2)
    return model, optimizer, scheduler


def test_round_trip_restores_everything(tmp_path):
    model, optimizer, scheduler = _setup()
    _train_a_bit(model, optimizer, scheduler)
    ckpt = Checkpointer(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler)
    path = ckpt.save("model_0000002", iteration=2)
    assert path == str(tmp_path / "model_0000002.pth")
    assert ckpt.has_checkpoint() and ckpt.get_checkpoint_file() == path
    after_save = (random.random(), np.random.rand(), torch.rand(1))

    model2, optimizer2, scheduler2 = _setup(seed=1)
    ckpt2 = Checkpointer(model2, str(tmp_path), optimizer=optimizer2, scheduler=scheduler2)
    extra = ckpt2.resume_or_load("", resume=True)
    assert extra == {"iteration": 2}
    for (k, v), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert scheduler2.state_dict() == scheduler.state_dict()
    assert [g["lr"] for g in optimizer2.param_groups] == [g["lr"] for g in optimizer.param_groups]
    for s1, s2 in zip(optimizer.state.values(), optimizer2.state.values()):
        assert all(torch.equal(s1[k], s2[k]) for k in s1)
    # RNG states are those at save time, so the same numbers come next.
    assert (random.random(), np.random.rand()) == after_save[:2]
    assert torch.equal(torch.rand(1), after_save[2])
    # Both continue identically.
    torch.manual_seed(3)
    _train_a_bit(model, optimizer, scheduler)
    torch.manual_seed(3)
    _train_a_bit(model2, optimizer2, scheduler2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters()))


def test_weights_only_load_leaves_optimizer_and_rng(tmp_path):
    model, optimizer, scheduler = _setup()
    _train_a_bit(model, optimizer, scheduler)
    Checkpointer(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler).save("m", iteration=7)
    model2, optimizer2, scheduler2 = _setup(seed=1)
    ckpt2 = Checkpointer(model2, "", optimizer=optimizer2, scheduler=scheduler2)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    extra = ckpt2.resume_or_load(str(tmp_path / "m.pth"), resume=False)
    assert torch.equal(torch.rand(1), expected_next)
    assert extra["iteration"] == 7
    assert torch.equal(model2[0].weight, model[0].weight)
    assert scheduler2.last_epoch == 0 and not optimizer2.state


def test_atomic_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, scheduler = _setup()
    ckpt = Checkpointer(model, str(tmp_path), optimizer=optimizer, scheduler=scheduler)
    first = ckpt.save("model_final", iteration=1)
    before = open(first, "rb").read()

    def dying_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed during save")

    _train_a_bit(model, optimizer, scheduler)
    monkeypatch.setattr(checkpointer_module.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_final", iteration=2)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_0000002", iteration=2)
    monkeypatch.undo()
    assert open(first, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_final.pth"]
    assert ckpt.get_checkpoint_file() == first
    assert Checkpointer(_model(), str(tmp_path)).resume_or_load("")["iteration"] == 1


def test_key_report_missing_unexpected_and_shape():
    model = _model()
    state = model.state_dict()
    state["extra.weight"] = torch.zeros(1)
    state["2.weight"] = torch.zeros(3, 4)  # wrong shape: skipped, model keeps its value
    del state["2.bias"]
    target = _model(seed=5)
    kept = target[2].weight.clone()
    incompatible = checkpointer_module.load_model_state(target, state)
    assert incompatible.missing == ["2.bias"]
    assert incompatible.unexpected == ["extra.weight"]
    assert incompatible.shape_mismatch == [("2.weight", (3, 4), (2, 4))]
    assert torch.equal(target[2].weight, kept)
    assert torch.equal(target[0].weight, model[0].weight)
    report = incompatible.report()
    assert "2.bias" in report and "extra.weight" in report and "(3, 4)" in report


def test_missing_file_and_non_writing_process(tmp_path):
    ckpt = Checkpointer(_model(), str(tmp_path), save_to_disk=False)
    assert ckpt.save("model") is None
    assert os.listdir(tmp_path) == []
    assert not ckpt.has_checkpoint() and ckpt.get_checkpoint_file() == ""
    with pytest.raises(FileNotFoundError, match="nowhere.pth.*MODEL.WEIGHTS"):
        ckpt.load(str(tmp_path / "nowhere.pth"))
    assert ckpt.resume_or_load("", resume=True) == {}


def test_foreign_pth_goes_through_name_alignment(tmp_path, monkeypatch):
    seen = {}

    def fake_align(state_dict, model):
        seen["keys"] = sorted(state_dict)
        return {f"0.{k}": v for k, v in state_dict.items()}

    monkeypatch.setattr(convert, "align_state_dict", fake_align)
    source = nn.Linear(3, 4)
    torch.save(source.state_dict(), tmp_path / "torchvision_style.pth")  # a bare state dict
    target = _model(seed=2)
    Checkpointer(target).load(str(tmp_path / "torchvision_style.pth"))
    assert seen["keys"] == ["bias", "weight"]
    assert torch.equal(target[0].weight, source.weight)


@pytest.mark.parametrize("suffix", [".safetensors", ".pkl"])
def test_other_formats_load_through_formats_and_convert(tmp_path, suffix):
    source = _model(seed=3)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        import pickle

        arrays = {k: v.numpy() for k, v in source.state_dict().items()}
        path.write_bytes(pickle.dumps({"model": arrays, "__author__": "test"}))
    target = _model(seed=4)
    Checkpointer(target).load(str(path))
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name


def test_urls_are_resolved_through_download(tmp_path, monkeypatch):
    model = _model(seed=6)
    local = Checkpointer(model, str(tmp_path)).save("cached", iteration=0)
    asked = []
    monkeypatch.setattr(download, "resolve_weights_path", lambda p: asked.append(p) or local)
    target = _model(seed=7)
    Checkpointer(target).load("detectron2://Some/model_final.pkl")
    assert asked == ["detectron2://Some/model_final.pkl"]
    assert torch.equal(target[0].weight, model[0].weight)
