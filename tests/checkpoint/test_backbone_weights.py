"""torchvision / timm / MSRA weights loaded into our backbones give the source models' features."""

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision

from maskformer.checkpoint.convert import align_state_dict_with_report
from maskformer.config import get_cfg
from maskformer.modeling.backbone import build_backbone
from maskformer.modeling.backbone import resnet as _resnet  # noqa: F401  (registers the ResNet builders)
from maskformer.modeling.backbone import swin as _swin  # noqa: F401  (registers D2SwinTransformer)


def _randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics so that a wrong mapping of running mean/var would show."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            # Small scales keep the residual sums O(1) with random convs, so absolute errors mean something.
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 + 0.1)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _r50(stride_in_1x1: bool = False):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = stride_in_1x1
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    return build_backbone(cfg).eval()


def _torchvision_features(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    out = {}
    for i in range(1, 5):
        x = getattr(model, f"layer{i}")(x)
        out[f"res{i + 1}"] = x
    return out


def _load(ours, state_dict):
    aligned, report = align_state_dict_with_report(state_dict, ours)
    ours.load_state_dict(aligned, strict=False)
    return report


def _assert_close(ours, theirs, atol=1e-5):
    for name, ref in theirs.items():
        diff = (ours[name] - ref).abs().max().item()
        assert diff <= atol, f"{name}: max |diff| {diff} (max |ref| {ref.abs().max().item()})"


@pytest.fixture(scope="module")
def tv_resnet50():
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    _randomise_bn(model)
    return model


def test_torchvision_resnet50(tv_resnet50):
    ours = _r50()
    report = _load(ours, tv_resnet50.state_dict())
    assert report.source_format == "torchvision_resnet"
    assert report.is_complete, report.format()
    assert {"fc.weight", "fc.bias"} <= set(report.dropped)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        _assert_close(ours(x), _torchvision_features(tv_resnet50, x))


def test_timm_resnet50():
    torch.manual_seed(1)
    model = timm.create_model("resnet50", pretrained=False).eval()
    _randomise_bn(model)
    ours = _r50()
    report = _load(ours, model.state_dict())
    assert report.is_complete, report.format()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        theirs = dict(
            zip(["res2", "res3", "res4", "res5"], model.forward_intermediates(x, intermediates_only=True)[1:])
        )
        _assert_close(ours(x), theirs)


def _to_msra(tv_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Caffe2/MSRA-style ImageNet file from torchvision weights, BN folded into scale/bias."""
    out = {}
    for name, value in tv_state.items():
        if name.startswith("fc.") or name.endswith("num_batches_tracked"):
            continue
        parts = name.split(".")
        if parts[0] in ("conv1", "bn1"):
            block = "conv1" if parts[0] == "conv1" else "res_conv1_bn"
        else:
            stage, idx, layer = int(parts[0][-1]) + 1, parts[1], parts[2]
            branch = {"conv1": "branch2a", "conv2": "branch2b", "conv3": "branch2c", "downsample": "branch1"}
            if layer.startswith("bn"):
                block = f"res{stage}_{idx}_{branch['conv' + layer[2:]]}_bn"
            elif layer == "downsample":
                block = f"res{stage}_{idx}_branch1" + ("_bn" if parts[3] == "1" else "")
            else:
                block = f"res{stage}_{idx}_{branch[layer]}"
        out[(block, parts[-1])] = value
    result = {}
    for (block, leaf), value in out.items():
        if not block.endswith("_bn"):
            result[block + "_w"] = value
        elif leaf == "weight":
            scale = value / torch.sqrt(out[(block, "running_var")] + 1e-5)
            result[block + "_s"] = scale
            result[block + "_b"] = out[(block, "bias")] - out[(block, "running_mean")] * scale
    result["fc1000_w"] = tv_state["fc.weight"]
    return result


def test_msra_style_pkl(tv_resnet50):
    msra = _to_msra(tv_resnet50.state_dict())
    assert "res2_0_branch2a_w" in msra and "res_conv1_bn_s" in msra and "res4_5_branch2c_bn_b" in msra
    ours = _r50()
    report = _load(ours, msra)
    assert report.source_format == "msra"
    assert report.is_complete, report.format()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        # Caffe2 folding vs FrozenBN's eps on var = 1 differ by a relative (1 + 1e-5)^-1/2 per layer.
        _assert_close(ours(x), _torchvision_features(tv_resnet50, x), atol=1e-4)


@pytest.fixture(scope="module")
def swin_t():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.DROP_PATH_RATE = 0.0
    return build_backbone(cfg).eval()


def test_timm_swin_tiny(swin_t):
    torch.manual_seed(2)
    # 224: every stage is a multiple of the 7x7 window (timm pads differently). always_partition
    # keeps timm's shifted windows where a stage fits in one window, as the official Swin does.
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, always_partition=True).eval()
    ours = swin_t
    report = _load(ours, model.state_dict())
    assert report.source_format == "timm_swin"
    # The official backbone's per-output norms are new layers, absent from ImageNet checkpoints.
    assert sorted(report.missing) == [f"norm{i}.{p}" for i in range(4) for p in ("bias", "weight")]
    assert not report.unexpected and not report.mismatched
    assert set(report.dropped) == {"norm.weight", "norm.bias", "head.fc.weight", "head.fc.bias"}
    for i in range(4):  # non-trivial output norms, applied to timm's features by the oracle below
        getattr(ours, f"norm{i}").weight.data.uniform_(0.5, 1.5)
        getattr(ours, f"norm{i}").bias.data.normal_(0, 0.1)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        feats = model.forward_intermediates(x, intermediates_only=True)
        theirs = {}
        for i, f in enumerate(feats):  # timm returns NCHW without the per-output norms
            norm = getattr(ours, f"norm{i}")
            theirs[f"res{i + 2}"] = F.layer_norm(
                f.permute(0, 2, 3, 1), norm.normalized_shape, norm.weight, norm.bias
            )
            theirs[f"res{i + 2}"] = theirs[f"res{i + 2}"].permute(0, 3, 1, 2)
        _assert_close(ours(x), theirs)


def test_timm_swin_features_only_names_and_official_names_roundtrip(swin_t):
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, features_only=True)
    ours = swin_t
    report = _load(ours, model.state_dict())
    assert not report.unexpected and not report.mismatched
    assert all(k.startswith("norm") for k in report.missing)
    # Our own (= official) names, as in swin_tiny_patch4_window7_224.pth, load completely.
    official = {k: v for k, v in ours.state_dict().items() if not k.startswith("norm")}
    official["head.weight"] = torch.zeros(1000, 768)
    report = _load(ours, official)
    assert report.source_format == "swin_official"
    assert not report.unexpected and not report.mismatched and report.dropped == ["head.weight"]
