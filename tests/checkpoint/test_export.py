"""Export of model weights to .pth / .safetensors and reading them back."""

import pytest
import torch
from torch import nn

from maskformer.checkpoint.export import export_model
from maskformer.checkpoint.formats import load_checkpoint_file


class TiedModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)
        self.b.weight = self.a.weight  # shared memory: safetensors refuses it unless copied
        self.register_buffer("steps", torch.tensor(4))


@pytest.mark.parametrize("ext", [".pth", ".safetensors"])
@pytest.mark.parametrize("source", ["module", "state_dict", "checkpoint"])
def test_roundtrip(tmp_path, ext, source):
    model = TiedModel()
    obj = {
        "module": model,
        "state_dict": model.state_dict(),
        "checkpoint": {"model": model.state_dict(), "optimizer": {}, "iteration": 3},
    }[source]
    path = export_model(obj, str(tmp_path / "sub" / f"m{ext}"))
    data = load_checkpoint_file(path)
    assert sorted(data["model"]) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(data["model"][k], v)
    assert "optimizer" not in data and "iteration" not in data
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_ddp_like_wrapper_is_unwrapped(tmp_path):
    wrapper = nn.Module()
    wrapper.module = TiedModel()
    data = load_checkpoint_file(export_model(wrapper, str(tmp_path / "m.pth")))
    assert "a.weight" in data["model"]


def test_bad_extension_and_entries(tmp_path):
    with pytest.raises(ValueError, match=r"m\.pkl"):
        export_model(TiedModel(), str(tmp_path / "m.pkl"))
    with pytest.raises(TypeError, match="'extra'"):
        export_model({"extra": "text"}, str(tmp_path / "m.pth"))
