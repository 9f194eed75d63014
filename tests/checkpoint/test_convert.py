"""Name conversion and alignment of foreign checkpoints (no backbone code needed)."""


import pytest
import torch
from torch import nn

from maskformer.checkpoint.convert import (
    align_state_dict,
    align_state_dict_with_report,
    convert_to_detectron2_names,
    detect_format,
    group_names,
)
from tests.helpers.official_models import read_keys
from tests.helpers.paths import REFERENCE

KEY_FILES = sorted(REFERENCE.glob("keys_*.txt"))


class FakeModel(nn.Module):
    """A module whose state dict has exactly the given names and shapes."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], buffers: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._names = {}
        for i, (name, shape) in enumerate(shapes.items()):
            attr = f"t{i}"
            self._names[attr] = name
            if name.endswith(buffers):
                self.register_buffer(attr, torch.empty(shape))
            else:
                self.register_parameter(attr, nn.Parameter(torch.empty(shape)))

    def state_dict(self, *args, **kwargs):
        return {self._names[k]: v for k, v in super().state_dict(*args, **kwargs).items()}


@pytest.mark.parametrize("key_file", KEY_FILES, ids=lambda p: p.stem)
def test_official_names_align_completely(key_file):
    shapes = read_keys(key_file)
    sd = {k: torch.empty(s) for k, s in shapes.items()}
    aligned, report = align_state_dict_with_report(sd, FakeModel(shapes))
    assert report.source_format == "detectron2"
    assert report.is_complete, report.format()
    assert aligned.keys() == shapes.keys()
    assert all(aligned[k] is sd[k] for k in shapes)


def test_backbone_only_file_gets_prefix_and_classifier_dropped():
    model = FakeModel({"backbone.stem.conv1.weight": (4, 3, 7, 7), "sem_seg_head.x.weight": (2,)})
    sd = {"stem.conv1.weight": torch.ones(4, 3, 7, 7), "stem.fc.weight": torch.ones(10, 4)}
    aligned, report = align_state_dict_with_report(sd, model)
    assert list(aligned) == ["backbone.stem.conv1.weight"]
    assert report.dropped == ["stem.fc.weight"] and report.missing == ["sem_seg_head.x.weight"]
    assert not report.unexpected


def test_report_mismatch_unexpected_and_text(caplog):
    model = FakeModel(
        {"backbone.res2.0.conv1.weight": (8, 4, 1, 1), "backbone.res2.0.conv1.norm.weight": (8,)}
    )
    sd = {
        "backbone.res2.0.conv1.weight": torch.ones(8, 8, 1, 1),
        "backbone.res2.0.conv1.norm.weight": torch.ones(8),
        "backbone.extra.bias": torch.ones(1),
    }
    aligned, report = align_state_dict_with_report(sd, model)
    assert list(aligned) == ["backbone.res2.0.conv1.norm.weight"]
    assert report.mismatched == [
        ("backbone.res2.0.conv1.weight", "backbone.res2.0.conv1.weight", (8, 8, 1, 1), (8, 4, 1, 1))
    ]
    assert report.unexpected == ["backbone.extra.bias"] and report.missing == []
    assert not report.is_complete
    text = report.format()
    assert "(8, 8, 1, 1) vs model (8, 4, 1, 1)" in text and "backbone.extra.bias" in text
    with caplog.at_level("INFO"):
        align_state_dict(sd, model)
    assert "Shape mismatch" in caplog.text


def test_ambiguous_suffix_is_not_guessed():
    model = FakeModel({"a.layers.0.w": (1,), "b.layers.0.w": (1,)})
    _, report = align_state_dict_with_report({"layers.0.w": torch.ones(1)}, model)
    assert report.unexpected == ["layers.0.w"] and sorted(report.missing) == ["a.layers.0.w", "b.layers.0.w"]


def test_derived_buffers_not_reported_missing():
    shapes = {"backbone.layers.0.blocks.0.attn.relative_position_index": (49, 49), "backbone.x.weight": (1,)}
    model = FakeModel(shapes, buffers=("relative_position_index",))
    _, report = align_state_dict_with_report({"backbone.x.weight": torch.ones(1)}, model)
    assert report.is_complete


def test_detect_format():
    assert detect_format(["backbone.stem.conv1.weight"]) == "detectron2"
    assert detect_format(["stem.conv1.weight", "res2.0.conv1.weight"]) == "detectron2"
    assert detect_format(["conv1_w", "res2_0_branch2a_w"]) == "msra"
    assert (
        detect_format(["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "fc.weight"])
        == "torchvision_resnet"
    )
    official = ["patch_embed.proj.weight", "layers.0.downsample.reduction.weight", "head.weight"]
    assert detect_format(official) == "swin_official"
    assert detect_format(["patch_embed.proj.weight", "layers.1.downsample.reduction.weight"]) == "timm_swin"
    assert detect_format(["patch_embed.proj.weight", "layers_0.blocks.0.attn.qkv.weight"]) == "timm_swin"
    hf = ["model.pixel_level_module.encoder.embedder.embedder.convolution.weight"]
    assert detect_format(hf + ["model.transformer_module.queries_features.weight"]) == "hf_mask2former"


def test_msra_names_and_identity_statistics():
    sd = {
        "conv1_w": torch.ones(64, 3, 7, 7),
        "res_conv1_bn_s": torch.full((64,), 2.0),
        "res_conv1_bn_b": torch.zeros(64),
        "res2_0_branch1_w": torch.ones(256, 64, 1, 1),
        "res2_0_branch1_bn_s": torch.ones(256),
        "res3_1_branch2b_bn_b": torch.ones(128),
        "res5_2_branch2c_w": torch.ones(2048, 512, 1, 1),
        "fc1000_w": torch.ones(1000, 2048),
    }
    out, fmt = convert_to_detectron2_names(sd)
    assert fmt == "msra"
    assert set(out) >= {
        "stem.conv1.weight",
        "stem.conv1.norm.weight",
        "stem.conv1.norm.bias",
        "stem.conv1.norm.running_mean",
        "stem.conv1.norm.running_var",
        "res2.0.shortcut.weight",
        "res2.0.shortcut.norm.weight",
        "res3.1.conv2.norm.bias",
        "res5.2.conv3.weight",
        "fc1000.weight",
    }
    assert torch.equal(out["stem.conv1.norm.running_mean"], torch.zeros(64))
    assert torch.equal(out["stem.conv1.norm.running_var"], torch.ones(64))


def test_torchvision_and_timm_swin_names():
    tv, fmt = convert_to_detectron2_names(
        {
            k: torch.ones(1)
            for k in ["conv1.weight", "bn1.running_var", "layer1.0.downsample.1.bias", "layer4.2.bn3.weight"]
        }
    )
    assert fmt == "torchvision_resnet"
    assert sorted(tv) == [
        "res2.0.shortcut.norm.bias",
        "res5.2.conv3.norm.weight",
        "stem.conv1.norm.running_var",
        "stem.conv1.weight",
    ]
    timm_names = [
        "patch_embed.proj.weight",
        "layers_1.downsample.norm.weight",
        "layers.3.downsample.reduction.weight",
    ]
    sw, fmt = convert_to_detectron2_names({k: torch.ones(1) for k in timm_names})
    assert fmt == "timm_swin"
    assert sorted(sw) == [
        "layers.0.downsample.norm.weight",
        "layers.2.downsample.reduction.weight",
        "patch_embed.proj.weight",
    ]


def test_group_names():
    assert group_names(["a.b.weight", "a.b.bias", "c"]) == ["a.b.{bias, weight}", "c"]
