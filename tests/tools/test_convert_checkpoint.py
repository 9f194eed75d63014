"""tools/convert_checkpoint.py: any supported source -> our names as .pth / .safetensors."""

import pickle

import numpy as np
import pytest
import torch
import torchvision

from maskformer.checkpoint.formats import load_checkpoint_file
from tests.helpers.paths import REPO
from tools import convert_checkpoint

R18_CONFIG = str(REPO / "configs/shapes/semantic-segmentation/maskformer_R18_shapes.yaml")


@pytest.fixture(scope="module")
def tv_resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.mark.parametrize("ext", [".pth", ".safetensors"])
def test_backbone_without_config(tmp_path, tv_resnet18_file, ext):
    out = tmp_path / f"R-18{ext}"
    assert convert_checkpoint.main([str(tv_resnet18_file), str(out)]) is None
    model = load_checkpoint_file(str(out))["model"]
    assert "backbone.stem.conv1.weight" in model and "backbone.res5.1.conv2.norm.running_var" in model
    assert not any("fc" in k or "num_batches_tracked" in k for k in model)
    source = torch.load(tv_resnet18_file, weights_only=True)
    assert torch.equal(model["backbone.res3.0.shortcut.weight"], source["layer2.0.downsample.0.weight"])


def test_with_config_reports_and_strict(tmp_path, tv_resnet18_file):
    out = tmp_path / "m.pth"
    report = convert_checkpoint.main([str(tv_resnet18_file), str(out), "--config-file", R18_CONFIG])
    assert report.source_format == "torchvision_resnet"
    assert not report.unexpected and not report.mismatched
    assert report.missing and all(k.startswith("sem_seg_head.") for k in report.missing)
    assert set(load_checkpoint_file(str(out))["model"]) == set(report.loaded)
    with pytest.raises(SystemExit, match="does not fit"):
        convert_checkpoint.main([str(tv_resnet18_file), str(out), "--config-file", R18_CONFIG, "--strict"])


def test_official_pkl_full_model_is_kept_as_is(tmp_path):
    weights = {
        "backbone.stem.conv1.weight": np.ones((2, 3, 1, 1), np.float32),
        "criterion.empty_weight": np.ones(3),
    }
    src = tmp_path / "model_final.pkl"
    with open(src, "wb") as f:
        pickle.dump({"model": weights, "__author__": "Detectron2 Model Zoo", "matching_heuristics": False}, f)
    convert_checkpoint.main([str(src), str(tmp_path / "out.safetensors")])
    assert sorted(load_checkpoint_file(str(tmp_path / "out.safetensors"))["model"]) == sorted(weights)


def test_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        convert_checkpoint.parse_args(["a.pkl", "b.pkl"])
    with pytest.raises(SystemExit):
        convert_checkpoint.parse_args(["a.pkl", "b.pth", "--strict"])
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        convert_checkpoint.main([str(tmp_path / "missing.pkl"), str(tmp_path / "b.pth")])
