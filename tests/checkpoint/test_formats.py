"""Reading .pkl / .pth / .safetensors checkpoints safely."""

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from maskformer.checkpoint.formats import load_checkpoint_file


class _RunsCode:
    """Unpickling this object would call os.system (the classic pickle exploit)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _dump(obj, path, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_detectron2_pkl_numpy_to_tensor(tmp_path, protocol):
    weights = {
        "backbone.stem.conv1.weight": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3),
        "sem_seg_head.predictor.class_embed.bias": np.array([1.5, -2.0], dtype=np.float64),
        "count": np.int64(3),
    }
    obj = {"model": weights, "__author__": "Detectron2 Model Zoo", "matching_heuristics": False}
    data = load_checkpoint_file(_dump(obj, tmp_path / "m.pkl", protocol))
    assert data["__author__"] == "Detectron2 Model Zoo"
    assert data["matching_heuristics"] is False
    w = data["model"]["backbone.stem.conv1.weight"]
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32 and w.shape == (1, 1, 2, 3)
    assert torch.equal(w.flatten(), torch.arange(6, dtype=torch.float32))
    assert data["model"]["sem_seg_head.predictor.class_embed.bias"].dtype == torch.float64
    assert data["model"]["count"].item() == 3
    w.add_(1)  # tensors own writable memory even for protocol-5 buffers


def test_caffe2_pkl_bare_blobs_are_wrapped(tmp_path):
    blobs = OrderedDict(
        conv1_w=np.ones((2, 3, 1, 1), np.float32), conv1_w_momentum=np.zeros(1), lr=np.float32(0.1)
    )
    data = load_checkpoint_file(_dump(blobs, tmp_path / "R-50.pkl"))
    assert data["__author__"] == "Caffe2" and data["matching_heuristics"] is True
    assert sorted(data["model"]) == ["conv1_w", "lr"]  # momentum blobs dropped as Detectron2 does

    detection = {"blobs": {"conv1_w": np.ones(2, np.float32)}, "cfg": "a yaml string"}
    assert list(load_checkpoint_file(_dump(detection, tmp_path / "det.pkl"))["model"]) == ["conv1_w"]


def test_pkl_running_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = _dump({"model": {"w": np.zeros(1)}, "payload": _RunsCode(str(marker))}, tmp_path / "evil.pkl")
    with pytest.raises(pickle.UnpicklingError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert "evil.pkl" in message and ("os.system" in message or "posix.system" in message)
    assert not marker.exists()


def test_pkl_with_torch_tensor_is_refused(tmp_path):
    path = _dump({"model": {"w": torch.zeros(2)}}, tmp_path / "torch_inside.pkl")
    with pytest.raises(pickle.UnpicklingError, match="torch_inside.pkl"):
        load_checkpoint_file(path)


def test_pth_variants(tmp_path):
    sd = {"a.weight": torch.randn(2, 2)}
    torch.save({"model": sd, "iteration": 7, "optimizer": {"state": {}}}, tmp_path / "ours.pth")
    data = load_checkpoint_file(str(tmp_path / "ours.pth"))
    assert data["iteration"] == 7 and torch.equal(data["model"]["a.weight"], sd["a.weight"])

    torch.save(sd, tmp_path / "bare.pth")
    assert torch.equal(load_checkpoint_file(str(tmp_path / "bare.pth"))["model"]["a.weight"], sd["a.weight"])

    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "lightning.pt")
    data = load_checkpoint_file(str(tmp_path / "lightning.pt"))
    assert data["epoch"] == 3 and list(data["model"]) == ["a.weight"]


def test_pth_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": {}, "x": _RunsCode(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(pickle.UnpicklingError, match="evil.pth"):
        load_checkpoint_file(str(tmp_path / "evil.pth"))
    assert not marker.exists()


def test_safetensors(tmp_path):
    from safetensors.torch import save_file

    sd = {"a.weight": torch.randn(3, 2), "b": torch.arange(4)}
    save_file(sd, str(tmp_path / "m.safetensors"))
    data = load_checkpoint_file(str(tmp_path / "m.safetensors"))
    assert sorted(data["model"]) == ["a.weight", "b"]
    assert torch.equal(data["model"]["a.weight"], sd["a.weight"])


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_checkpoint_file(str(tmp_path / "nope.pkl"))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"w\.bin.*\.safetensors"):
        load_checkpoint_file(str(tmp_path / "w.bin"))
    with pytest.raises(ValueError, match="list"):
        load_checkpoint_file(_dump([1, 2], tmp_path / "list.pkl"))
