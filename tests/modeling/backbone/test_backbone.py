"""Backbones: official parameter names, output shapes/strides, freezing, Swin window maths."""


import pytest
import torch

from maskformer.config import get_cfg
from maskformer.layers import FrozenBatchNorm2d
from maskformer.modeling import BACKBONE_REGISTRY, build_backbone
from maskformer.modeling.backbone.swin import D2SwinTransformer
from maskformer.modeling.backbone.swin_blocks import (
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from maskformer.modeling.backbone.timm_backbone import TimmBackbone
from tests.helpers.paths import REFERENCE


def official_shapes(keys_file: str, prefix: str) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of the entries of an official ``keys_*.txt`` under ``prefix`` (stripped)."""
    out = {}
    for line in (REFERENCE / keys_file).read_text().splitlines():
        name, shape = line.split(" ", 1)
        if name.startswith(prefix):
            dims = shape.strip("()").replace(" ", "").split(",")
            out[name[len(prefix) :]] = tuple(int(d) for d in dims if d)
    return out


def state_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def resnet_cfg(depth=50, **resnets):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    if depth in (18, 34):
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    for k, v in resnets.items():
        cfg.MODEL.RESNETS[k] = v
    return cfg


def test_r50_names_and_shapes_equal_official():
    model = build_backbone(resnet_cfg(50))
    assert state_shapes(model) == official_shapes("keys_m2f_R50_coco_panoptic.txt", "backbone.")


def test_swin_tiny_names_and_shapes_equal_official():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    model = build_backbone(cfg)
    assert state_shapes(model) == official_shapes("keys_m2f_swinT_coco_panoptic.txt", "backbone.")


@pytest.mark.parametrize("depth,channels", [(18, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])])
def test_resnet_output_shapes_and_strides(depth, channels):
    cfg = resnet_cfg(depth)
    if depth == 50:  # thinner bottlenecks keep the test fast; the layout is unchanged
        cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 8
    model = build_backbone(cfg).eval()
    out = model(torch.randn(1, 3, 64, 96))
    spec = model.output_shape()
    for i, name in enumerate(["res2", "res3", "res4", "res5"]):
        stride = 4 * 2**i
        assert out[name].shape == (1, channels[i], 64 // stride, 96 // stride)
        assert (spec[name].channels, spec[name].stride) == (channels[i], stride)


def test_resnet18_uses_basic_blocks_with_detectron2_names():
    names = set(build_backbone(resnet_cfg(18)).state_dict())
    assert "res2.0.conv2.weight" in names and "res2.0.conv3.weight" not in names
    assert "res2.0.shortcut.weight" not in names  # 64 -> 64, stride 1: identity
    assert "res3.0.shortcut.weight" in names and "stem.conv1.norm.running_var" in names


def test_deeplab_stem_and_multi_grid():
    cfg = resnet_cfg(
        50, STEM_TYPE="deeplab", STEM_OUT_CHANNELS=128, RES5_MULTI_GRID=[1, 2, 4], RES5_DILATION=2
    )
    cfg.MODEL.BACKBONE.NAME = "build_resnet_deeplab_backbone"
    model = build_backbone(cfg)
    shapes = state_shapes(model)
    assert shapes["stem.conv1.weight"] == (64, 3, 3, 3)
    assert shapes["stem.conv2.weight"] == (64, 64, 3, 3)
    assert shapes["stem.conv3.weight"] == (128, 64, 3, 3)
    assert shapes["res2.0.conv1.weight"] == (64, 128, 1, 1)
    assert [model.res5[i].conv2.dilation[0] for i in range(3)] == [2, 4, 8]
    assert model.output_shape()["res5"].stride == 16  # dilated res5 keeps res4's stride


def test_plain_builder_ignores_deeplab_keys():
    # Like Detectron2: add_deeplab_config's STEM_TYPE only matters to the deeplab builder.
    model = build_backbone(resnet_cfg(50, STEM_TYPE="deeplab", RES5_MULTI_GRID=[1, 2, 4]))
    assert not hasattr(model.stem, "conv2")
    assert [model.res5[i].conv2.dilation[0] for i in range(3)] == [1, 1, 1]


def test_stride_in_1x1():
    model = build_backbone(resnet_cfg(50, STRIDE_IN_1X1=True))
    assert model.res3[0].conv1.stride == (2, 2) and model.res3[0].conv2.stride == (1, 1)
    model = build_backbone(resnet_cfg(50, STRIDE_IN_1X1=False))
    assert model.res3[0].conv1.stride == (1, 1) and model.res3[0].conv2.stride == (2, 2)


@pytest.mark.parametrize("norm", ["BN", "GN", "SyncBN", "FrozenBN"])
def test_resnet_norms(norm):
    model = build_backbone(resnet_cfg(18, NORM=norm))
    norm_type = type(model.res2[0].conv1.norm).__name__
    assert norm_type == {"BN": "BatchNorm2d", "GN": "GroupNorm", "SyncBN": "SyncBatchNorm"}.get(
        norm, "FrozenBatchNorm2d"
    )


def test_freeze_at_two_freezes_stem_and_res2_only():
    cfg = resnet_cfg(18, NORM="BN")
    cfg.MODEL.BACKBONE.FREEZE_AT = 2
    model = build_backbone(cfg)
    assert isinstance(model.stem.conv1.norm, FrozenBatchNorm2d)
    assert isinstance(model.res2[0].conv1.norm, FrozenBatchNorm2d)
    assert all(not p.requires_grad for p in model.stem.parameters())
    assert all(not p.requires_grad for p in model.res2.parameters())
    assert all(p.requires_grad for p in model.res3.parameters())
    assert isinstance(model.res3[0].conv1.norm, torch.nn.BatchNorm2d)


def test_resnet_errors_name_the_key():
    with pytest.raises(ValueError, match="MODEL.RESNETS.DEPTH=42"):
        build_backbone(resnet_cfg(42))
    with pytest.raises(ValueError, match="RES2_OUT_CHANNELS=64"):
        cfg = resnet_cfg(18)
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
        build_backbone(cfg)
    with pytest.raises(KeyError, match="No object named 'build_resnet'"):
        cfg = resnet_cfg(18)
        cfg.MODEL.BACKBONE.NAME = "build_resnet"
        build_backbone(cfg)


def test_all_backbones_registered():
    for name in [
        "build_resnet_backbone",
        "build_resnet_deeplab_backbone",
        "D2SwinTransformer",
        "TimmBackbone",
    ]:
        assert name in BACKBONE_REGISTRY


def tiny_swin(**kw):
    args = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=3, drop_path_rate=0.0)
    args.update(kw)
    return D2SwinTransformer(**args)


@pytest.mark.parametrize("size", [(64, 64), (70, 90), (37, 45)])
def test_swin_output_shapes_on_sizes_not_multiple_of_window(size):
    model = tiny_swin().eval()
    out = model(torch.randn(1, 3, *size))
    h, w = -(-size[0] // 4), -(-size[1] // 4)
    for i, name in enumerate(["res2", "res3", "res4", "res5"]):
        assert out[name].shape == (1, 16 * 2**i, h, w)
        h, w = (h + 1) // 2, (w + 1) // 2
    assert model.size_divisibility == 32
    assert [model.output_shape()[n].stride for n in out] == [4, 8, 16, 32]


def test_swin_ape_and_checkpointing_give_gradients():
    model = tiny_swin(ape=True, pretrain_img_size=32, use_checkpoint=True, out_features=("res3", "res5"))
    out = model(torch.randn(1, 3, 40, 48))
    assert set(out) == {"res3", "res5"}
    sum(o.sum() for o in out.values()).backward()
    assert model.absolute_pos_embed.grad is not None
    assert model.layers[0].blocks[1].attn.qkv.weight.grad is not None


def test_window_partition_roundtrip_and_order():
    x = torch.arange(2 * 4 * 6 * 1, dtype=torch.float32).view(2, 4, 6, 1)
    windows = window_partition(x, 2)
    assert windows.shape == (12, 2, 2, 1)
    torch.testing.assert_close(windows[1, :, :, 0], torch.tensor([[2.0, 3.0], [8.0, 9.0]]))
    torch.testing.assert_close(window_reverse(windows, 2, 4, 6), x)


@pytest.mark.parametrize("size", [(28, 56), (56, 28)])
def test_swin_one_window_row_or_column(size):
    # Batch 1 and a res5 map of one window row (or column): the windows must still flatten to tokens.
    model = tiny_swin(window_size=7).eval()
    out = model(torch.randn(1, 3, *size))
    assert out["res5"].shape == (1, 128, size[0] // 32 + 1, size[1] // 32 + 1)
    windows = window_partition(torch.randn(1, 7, 14, 2), 7)
    assert windows.is_contiguous() and windows.view(-1, 49, 2).shape == (2, 49, 2)


def test_relative_position_index_exact():
    # ws=2: offsets (dy, dx) in {-1,0,1}^2 map to (dy+1)*3 + (dx+1).
    expected = torch.tensor([[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]])
    torch.testing.assert_close(relative_position_index(2), expected)


def test_shifted_window_mask_regions():
    mask = shifted_window_mask(4, 4, window_size=2, shift=1, device=torch.device("cpu"))
    assert mask.shape == (4, 4, 4)
    assert (mask[0] == 0).all()  # the top-left window lies in one region
    # The bottom-right window holds four regions: only the diagonal is allowed.
    torch.testing.assert_close(mask[3], (1 - torch.eye(4)) * -100.0)


def test_swin_attention_masks_the_shifted_regions():
    # A token's output must not depend on tokens of another region inside its shifted window.
    torch.manual_seed(0)
    model = tiny_swin(depths=(2,), num_heads=(1,), out_features=("res2",), window_size=2).eval()
    block = model.layers[0].blocks[1]
    x = torch.randn(1, 16, 16)
    mask = shifted_window_mask(4, 4, 2, 1, x.device)
    y = block(x, 4, 4, mask)
    x2 = x.clone()
    x2[0, 0] += 10.0  # token (0, 0) wraps around to the bottom-right window, a different region from (3, 3)
    y2 = block(x2, 4, 4, mask)
    torch.testing.assert_close(y2[0, 15], y[0, 15])


def test_timm_backbone_contract():
    model = TimmBackbone(name="resnet18").eval()
    out = model(torch.randn(1, 3, 64, 64))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "res2": (1, 64, 16, 16),
        "res3": (1, 128, 8, 8),
        "res4": (1, 256, 4, 4),
        "res5": (1, 512, 2, 2),
    }
    with pytest.raises(ValueError, match="MODEL.TIMM.NAME"):
        TimmBackbone(name="not_a_model_xyz")
    with pytest.raises(ValueError, match="MODEL.TIMM.NAME is empty"):
        TimmBackbone(name="")


def test_swin_tiny_builds_on_meta_device_with_cpu_names_and_shapes():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.DROP_PATH_RATE = 0.3
    with torch.device("meta"):
        meta = build_backbone(cfg)
    assert all(p.is_meta for p in meta.parameters())
    assert state_shapes(meta) == state_shapes(build_backbone(cfg))


def test_swin_stochastic_depth_rates_rise_linearly_to_the_configured_rate():
    model = D2SwinTransformer(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), drop_path_rate=0.35)
    rates = [blk.drop_path for stage in model.layers for blk in stage.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.35, 8).tolist(), abs=1e-7)


def test_resnet_channels_last_gives_the_same_contiguous_maps_and_gradients():
    cfg = resnet_cfg(50, WIDTH_PER_GROUP=8, NORM="FrozenBN")
    model = build_backbone(cfg)
    assert not model.channels_last  # the default layout unless asked
    model.channels_last = True
    layouts = []
    model.res3.register_forward_hook(
        lambda module, inputs, output: layouts.append(output.is_contiguous(memory_format=torch.channels_last))
    )
    x = torch.randn(1, 3, 64, 96)
    out = model(x)
    grads = torch.autograd.grad(sum(v.square().sum() for v in out.values()), list(model.parameters()))
    model.channels_last = False
    ref = model(x)
    assert layouts == [True, False]
    ref_grads = torch.autograd.grad(sum(v.square().sum() for v in ref.values()), list(model.parameters()))
    for name in ref:
        assert out[name].is_contiguous() and ref[name].is_contiguous()
        scale = ref[name].abs().max().item()
        torch.testing.assert_close(out[name], ref[name], rtol=1e-5, atol=1e-5 * scale)
    for got, want in zip(grads, ref_grads):  # float rounding relative to each gradient's scale
        assert want.abs().max() > 0
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
