"""Swin Transformer backbone ("Swin Transformer: Hierarchical Vision Transformer using Shifted Windows").

Parameter names equal the official ``D2SwinTransformer`` (``patch_embed.proj``, ``layers.i.blocks.j
.attn.relative_position_bias_table``, ``layers.i.downsample.reduction``, ``norm0..3``), so official
and converted ImageNet Swin weights load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.structures import ShapeSpec

from .backbone import Backbone
from .build import BACKBONE_REGISTRY
from .swin_blocks import PatchEmbed, SwinStage

__all__ = ["D2SwinTransformer"]


@BACKBONE_REGISTRY.register()
class D2SwinTransformer(Backbone):
    """Swin Transformer returning ``res2..res5`` (strides 4..32, widths C, 2C, 4C, 8C).

    Args:
        pretrain_img_size: image size of pre-training; sets the size of the absolute position
            embedding (interpolated to the input at run time).
        patch_size: patch side (4).
        in_chans: input channels.
        embed_dim: C of the first stage.
        depths: blocks per stage.
        num_heads: heads per stage.
        window_size: window side.
        mlp_ratio: MLP hidden width / C.
        qkv_bias: bias in qkv projections.
        qk_scale: attention scale override.
        drop_rate: dropout rate.
        attn_drop_rate: attention dropout rate.
        drop_path_rate: final stochastic depth rate (linear from 0 over all blocks).
        ape: add a learned absolute position embedding.
        patch_norm: LayerNorm after the patch embedding.
        out_features: which of ``res2..res5`` to return.
        use_checkpoint: gradient checkpointing of every block during training.
    """

    @configurable
    def __init__(
        self,
        *,
        pretrain_img_size: int = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        ape: bool = False,
        patch_norm: bool = True,
        out_features: tuple[str, ...] = ("res2", "res3", "res4", "res5"),
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(
                f"MODEL.SWIN.DEPTHS {list(depths)} and NUM_HEADS {list(num_heads)} differ in length."
            )
        num_stages = len(depths)
        self.num_features = [int(embed_dim * 2**i) for i in range(num_stages)]
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        self.ape = ape
        if ape:
            side = pretrain_img_size // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, side, side))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)
        # Plain Python (not torch.linspace) so the model also builds under ``torch.device("meta")``.
        num_blocks = sum(depths)
        rates = [drop_path_rate * i / max(num_blocks - 1, 1) for i in range(num_blocks)]
        self.layers = nn.ModuleList(
            SwinStage(
                self.num_features[i],
                depths[i],
                num_heads[i],
                window_size,
                drop_paths=rates[sum(depths[:i]) : sum(depths[: i + 1])],
                downsample=i < num_stages - 1,
                use_checkpoint=use_checkpoint,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop_rate,
                attn_drop=attn_drop_rate,
            )
            for i in range(num_stages)
        )
        for i in range(num_stages):
            self.add_module(f"norm{i}", nn.LayerNorm(self.num_features[i]))
        names = [f"res{i + 2}" for i in range(num_stages)]
        unknown = [f for f in out_features if f not in names]
        if unknown:
            raise ValueError(f"MODEL.SWIN.OUT_FEATURES has {unknown}; available: {names}.")
        self._out_features = list(out_features)
        self._out_feature_strides = {n: patch_size * 2**i for i, n in enumerate(names)}
        self._out_feature_channels = dict(zip(names, self.num_features))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec) -> dict:
        s = cfg.MODEL.SWIN
        return {
            "pretrain_img_size": s.PRETRAIN_IMG_SIZE,
            "patch_size": s.PATCH_SIZE,
            "in_chans": input_shape.channels,
            "embed_dim": s.EMBED_DIM,
            "depths": tuple(s.DEPTHS),
            "num_heads": tuple(s.NUM_HEADS),
            "window_size": s.WINDOW_SIZE,
            "mlp_ratio": s.MLP_RATIO,
            "qkv_bias": s.QKV_BIAS,
            "qk_scale": s.QK_SCALE,
            "drop_rate": s.DROP_RATE,
            "attn_drop_rate": s.ATTN_DROP_RATE,
            "drop_path_rate": s.DROP_PATH_RATE,
            "ape": s.APE,
            "patch_norm": s.PATCH_NORM,
            "out_features": tuple(s.OUT_FEATURES),
            "use_checkpoint": s.USE_CHECKPOINT,
        }

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[B, 3, H, W]`` -> ``{"res2": [B, C, H/4, W/4], ..., "res5": [B, 8C, H/32, W/32]}``."""
        if x.dim() != 4:
            raise ValueError(f"D2SwinTransformer takes [B, C, H, W] inputs, got shape {tuple(x.shape)}.")
        x = self.patch_embed(x)
        h, w = x.shape[2], x.shape[3]
        if self.ape:
            x = x + F.interpolate(self.absolute_pos_embed, size=(h, w), mode="bicubic")
        x = self.pos_drop(x.flatten(2).transpose(1, 2))  # [B, H*W, C]
        outputs = {}
        for i, stage in enumerate(self.layers):
            out, x, next_h, next_w = stage(x, h, w)
            name = f"res{i + 2}"
            if name in self._out_features:
                out = getattr(self, f"norm{i}")(out)
                outputs[name] = out.view(-1, h, w, self.num_features[i]).permute(0, 3, 1, 2).contiguous()
            h, w = next_h, next_w
        return outputs
