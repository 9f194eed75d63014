"""ResNet-18/34/50/101/152 with Detectron2 parameter names, plus the DeepLab deep-stem variant.

Names follow Detectron2 (``stem.conv1.weight``, ``stem.conv1.norm.*``, ``res2.0.shortcut.*``,
``res2.0.conv1.*``) so Detectron2 ImageNet weights (R-50.pkl) and official checkpoints load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.layers import Conv2d, FrozenBatchNorm2d, c2_msra_fill, get_norm
from maskformer.structures import ShapeSpec

from .backbone import Backbone
from .build import BACKBONE_REGISTRY

__all__ = [
    "BasicBlock",
    "BasicStem",
    "BottleneckBlock",
    "DeepLabStem",
    "ResNet",
    "build_resnet_backbone",
    "build_resnet_deeplab_backbone",
    "make_resnet_stages",
]

_BLOCKS_PER_STAGE = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _freeze(module: nn.Module) -> nn.Module:
    """Stops gradients of ``module`` and turns its batch norms into FrozenBatchNorm2d."""
    for p in module.parameters():
        p.requires_grad_(False)
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


class BasicStem(nn.Module):
    """7x7 stride-2 conv + norm + ReLU, then 3x3 stride-2 max-pool: stride 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64, norm: str = "BN") -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = 4
        self.conv1 = Conv2d(
            in_channels, out_channels, 7, stride=2, padding=3, bias=False, norm=get_norm(norm, out_channels)
        )
        c2_msra_fill(self.conv1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, C, H/4, W/4]``."""
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class DeepLabStem(nn.Module):
    """The "c" deep stem: three 3x3 convs (stride 2, 1, 1; widths C/2, C/2, C) + max-pool: stride 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 128, norm: str = "BN") -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = 4
        mid = out_channels // 2
        self.conv1 = Conv2d(in_channels, mid, 3, stride=2, padding=1, bias=False, norm=get_norm(norm, mid))
        self.conv2 = Conv2d(mid, mid, 3, stride=1, padding=1, bias=False, norm=get_norm(norm, mid))
        self.conv3 = Conv2d(
            mid, out_channels, 3, stride=1, padding=1, bias=False, norm=get_norm(norm, out_channels)
        )
        for conv in (self.conv1, self.conv2, self.conv3):
            c2_msra_fill(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, C, H/4, W/4]``."""
        x = F.relu_(self.conv1(x))
        x = F.relu_(self.conv2(x))
        x = F.relu_(self.conv3(x))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


def _shortcut(in_channels: int, out_channels: int, stride: int, norm: str) -> Conv2d | None:
    # A projection only where the identity does not fit.
    if in_channels == out_channels and stride == 1:
        return None
    return Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, norm=get_norm(norm, out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the first conv.
        norm: norm name for :func:`get_norm`.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, norm: str = "BN") -> None:
        super().__init__()
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm)
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        self.conv2 = Conv2d(
            out_channels, out_channels, 3, padding=1, bias=False, norm=get_norm(norm, out_channels)
        )
        for conv in (self.conv1, self.conv2, self.shortcut):
            if conv is not None:
                c2_msra_fill(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu_(self.conv1(x)))
        out += x if self.shortcut is None else self.shortcut(x)  # a fresh conv output: add in place
        return F.relu_(out)


class BottleneckBlock(nn.Module):
    """1x1 reduce, 3x3 (grouped, dilated), 1x1 expand, with a residual connection (ResNet-50+).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        bottleneck_channels: width of the 3x3 conv.
        stride: block stride, applied in the first 1x1 conv if ``stride_in_1x1`` (MSRA weights)
            else in the 3x3 conv (torchvision weights).
        num_groups: groups of the 3x3 conv.
        norm: norm name for :func:`get_norm`.
        stride_in_1x1: see ``stride``.
        dilation: dilation of the 3x3 conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int = 1,
        num_groups: int = 1,
        norm: str = "BN",
        stride_in_1x1: bool = False,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm)
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(
            in_channels,
            bottleneck_channels,
            1,
            stride=stride_1x1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.conv2 = Conv2d(
            bottleneck_channels,
            bottleneck_channels,
            3,
            stride=stride_3x3,
            padding=dilation,
            dilation=dilation,
            groups=num_groups,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self.conv3 = Conv2d(
            bottleneck_channels, out_channels, 1, bias=False, norm=get_norm(norm, out_channels)
        )
        for conv in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if conv is not None:
                c2_msra_fill(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        out += x if self.shortcut is None else self.shortcut(x)  # a fresh conv output: add in place
        return F.relu_(out)


class ResNet(Backbone):
    """A stem followed by the stages ``res2``..``res5`` (only those up to the last output are built).

    Args:
        stem: a stem module with ``out_channels`` and ``stride`` attributes.
        stages: block lists of res2, res3, ... in order.
        out_features: names of the returned maps, e.g. ``["res2", "res3", "res4", "res5"]``.
        freeze_at: 0 = train all; 1 = freeze the stem; k >= 2 also freezes res2..res{k}.
        channels_last: on CPU, run the layers in channels-last memory format, where oneDNN
            runs every convolution, the 1x1 ones too (often ~10% faster at 800x1088); the
            returned maps are contiguous either way. Off by default: the features then differ
            from the default layout's by float rounding, enough to flip a pixel of a mask.
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: list[list[nn.Module]],
        out_features: list[str],
        freeze_at: int = 0,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.stem = stem
        self._out_feature_strides = {"stem": stem.stride}
        self._out_feature_channels = {"stem": stem.out_channels}
        self.stage_names: list[str] = []
        stride = stem.stride
        for i, blocks in enumerate(stages):
            name = f"res{i + 2}"
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
            stride *= _block_stride(blocks[0])
            self._out_feature_strides[name] = stride
            self._out_feature_channels[name] = _block_out(blocks[-1])
        unknown = [f for f in out_features if f not in self._out_feature_channels]
        if unknown:
            raise ValueError(
                f"MODEL.RESNETS.OUT_FEATURES has {unknown}; available: {list(self._out_feature_channels)}."
            )
        self._out_features = list(out_features)
        self.channels_last = channels_last
        self.freeze(freeze_at)

    def freeze(self, freeze_at: int) -> ResNet:
        """Freezes the stem (``freeze_at >= 1``) and stages res2..res{freeze_at} (Detectron2 semantics)."""
        if freeze_at >= 1:
            self.stem = _freeze(self.stem)
        for i, name in enumerate(self.stage_names):
            if freeze_at >= i + 2:
                setattr(self, name, _freeze(getattr(self, name)))
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, 3, H, W]`` -> ``{"res2": [B, C2, H/4, W/4], ..., "res5": [B, C5, H/32, W/32]}``."""
        if x.dim() != 4:
            raise ValueError(f"ResNet takes [B, C, H, W] inputs, got shape {tuple(x.shape)}.")
        if self.channels_last and x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        outputs = {}
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x.contiguous()
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x.contiguous()
        return outputs


def _block_stride(block: nn.Module) -> int:
    convs = [block.conv1] + ([block.conv2] if isinstance(block, BottleneckBlock) else [])
    stride = 1
    for conv in convs:
        stride *= conv.stride[0]
    return stride


def _block_out(block: nn.Module) -> int:
    last = block.conv3 if isinstance(block, BottleneckBlock) else block.conv2
    return last.out_channels


def make_resnet_stages(
    depth: int,
    in_channels: int,
    *,
    res2_out_channels: int = 256,
    num_groups: int = 1,
    width_per_group: int = 64,
    norm: str = "FrozenBN",
    stride_in_1x1: bool = False,
    res4_dilation: int = 1,
    res5_dilation: int = 1,
    res5_multi_grid: tuple[int, ...] = (1,),
    num_stages: int = 4,
) -> list[list[nn.Module]]:
    """Builds the block lists of res2..res{num_stages + 1}.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: channels of the stem output.
        res2_out_channels: output channels of res2 (64 for ResNet-18/34, 256 otherwise);
            doubled at every later stage.
        num_groups: groups of the 3x3 convs (ResNeXt > 1).
        width_per_group: bottleneck width of res2 per group.
        norm: norm name.
        stride_in_1x1: put the stride in the first 1x1 conv (MSRA weights).
        res4_dilation: dilation of res4 (1 or 2); a dilated stage keeps the stride of the previous one.
        res5_dilation: dilation of res5 (1, 2 or 4).
        res5_multi_grid: per-block multipliers of the res5 dilation (DeepLab v3 multi-grid).
        num_stages: how many stages to build (up to the deepest requested output).
    """
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(
            f"MODEL.RESNETS.DEPTH={depth} is not supported; choose one of {sorted(_BLOCKS_PER_STAGE)}."
        )
    basic = depth in (18, 34)
    if basic and (res2_out_channels != 64 or num_groups != 1 or res4_dilation != 1 or res5_dilation != 1):
        raise ValueError(
            f"ResNet-{depth} uses BasicBlock: set MODEL.RESNETS.RES2_OUT_CHANNELS=64, NUM_GROUPS=1 and "
            f"RES4_DILATION=RES5_DILATION=1 (got {res2_out_channels}, {num_groups}, {res4_dilation}, "
            f"{res5_dilation})."
        )
    out_channels, bottleneck = res2_out_channels, num_groups * width_per_group
    stages = []
    for idx, num_blocks in enumerate(_BLOCKS_PER_STAGE[depth][:num_stages]):
        stage_dilation = {2: res4_dilation, 3: res5_dilation}.get(idx, 1)
        first_stride = 1 if idx == 0 or stage_dilation > 1 else 2
        # A grid of ones means "no multi-grid" whatever the block count.
        multi_grid = idx == 3 and any(g != 1 for g in res5_multi_grid)
        grid = res5_multi_grid if multi_grid else (1,) * num_blocks
        if len(grid) != num_blocks:
            raise ValueError(
                f"MODEL.RESNETS.RES5_MULTI_GRID={list(res5_multi_grid)} needs {num_blocks} entries "
                "(one per res5 block)."
            )
        blocks = []
        for i in range(num_blocks):
            stride = first_stride if i == 0 else 1
            if basic:
                blocks.append(BasicBlock(in_channels, out_channels, stride=stride, norm=norm))
            else:
                blocks.append(
                    BottleneckBlock(
                        in_channels,
                        out_channels,
                        bottleneck_channels=bottleneck,
                        stride=stride,
                        num_groups=num_groups,
                        norm=norm,
                        stride_in_1x1=stride_in_1x1,
                        dilation=stage_dilation * grid[i],
                    )
                )
            in_channels = out_channels
        stages.append(blocks)
        out_channels *= 2
        bottleneck *= 2
    return stages


_STEMS = {"basic": BasicStem, "deeplab": DeepLabStem}


def _build_resnet(cfg, input_shape: ShapeSpec, deeplab: bool) -> ResNet:
    r = cfg.MODEL.RESNETS
    if any(r.DEFORM_ON_PER_STAGE):
        raise ValueError("MODEL.RESNETS.DEFORM_ON_PER_STAGE: deformable convolutions are not implemented.")
    stem_type = r.STEM_TYPE if deeplab else "basic"
    if stem_type not in _STEMS:
        raise ValueError(f"MODEL.RESNETS.STEM_TYPE={stem_type!r}; choose one of {sorted(_STEMS)}.")
    stem = _STEMS[stem_type](input_shape.channels, r.STEM_OUT_CHANNELS, r.NORM)
    depth_order = ["stem", "res2", "res3", "res4", "res5"]
    unknown = [f for f in r.OUT_FEATURES if f not in depth_order]
    if unknown:
        raise ValueError(f"MODEL.RESNETS.OUT_FEATURES has {unknown}; available: {depth_order}.")
    stages = make_resnet_stages(
        r.DEPTH,
        stem.out_channels,
        res2_out_channels=r.RES2_OUT_CHANNELS,
        num_groups=r.NUM_GROUPS,
        width_per_group=r.WIDTH_PER_GROUP,
        norm=r.NORM,
        stride_in_1x1=r.STRIDE_IN_1X1,
        res4_dilation=r.RES4_DILATION if deeplab else 1,
        res5_dilation=r.RES5_DILATION,
        res5_multi_grid=tuple(r.RES5_MULTI_GRID) if deeplab else (1,),
        num_stages=max(depth_order.index(f) for f in r.OUT_FEATURES),
    )
    return ResNet(stem, stages, r.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_resnet_backbone(cfg, input_shape: ShapeSpec) -> ResNet:
    """Detectron2's ResNet from ``MODEL.RESNETS.*``: basic 7x7 stem, no multi-grid (like Detectron2,
    this builder ignores STEM_TYPE, RES4_DILATION and RES5_MULTI_GRID, which add_deeplab_config adds)."""
    return _build_resnet(cfg, input_shape, deeplab=False)


@BACKBONE_REGISTRY.register()
def build_resnet_deeplab_backbone(cfg, input_shape: ShapeSpec) -> ResNet:
    """The DeepLab ResNet ("R101c"): ``MODEL.RESNETS.STEM_TYPE`` ("deeplab" = three 3x3 convs),
    RES4_DILATION, RES5_DILATION with RES5_MULTI_GRID."""
    return _build_resnet(cfg, input_shape, deeplab=True)
