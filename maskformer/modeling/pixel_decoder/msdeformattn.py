"""``MSDeformAttnPixelDecoder``: Mask2Former's multi-scale deformable-attention pixel decoder.

res3-res5 are projected (1x1 conv + GroupNorm) to ``conv_dim``, flattened into one token sequence
and refined by ``transformer_enc_layers`` deformable encoder layers (Mask2Former paper Sec. 4.1,
from Deformable DETR); then an FPN step (lateral 1x1 + bilinear upsampling + 3x3 conv) adds the
stride-4 map, whose 1x1 projection is the per-pixel embedding ``mask_features``.

Parameter names equal the official ones (``input_proj.{i}.{0,1}``, ``transformer.level_embed``,
``transformer.encoder.layers.{j}.{self_attn,norm1,linear1,linear2,norm2}``, ``adapter_1``,
``layer_1``, ``mask_features``) so official checkpoints load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill, get_norm
from maskformer.layers.ms_deform_attn import MSDeformAttn
from maskformer.structures import ShapeSpec

from ..transformer_decoder.position_encoding import PositionEmbeddingSine
from .base import PixelDecoder, PixelDecoderOutput, PixelDecoderShape, finest_first
from .build import PIXEL_DECODER_REGISTRY
from .encoder_spec import EncoderSpec

__all__ = ["MSDeformAttnEncoderLayer", "MSDeformAttnEncoder", "MSDeformAttnPixelDecoder"]

# The transformer decoder consumes this many pixel-decoder outputs (strides 32, 16, 8).
NUM_DECODER_LEVELS = 3
# The official encoder samples 4 points per head and level and uses a 1024-wide FFN, whatever the
# config says (SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS is read by nothing).
ENCODER_POINTS = 4
ENCODER_FFN_DIM = 1024


class MSDeformAttnEncoderLayer(nn.Module):
    """Post-norm encoder layer: deformable self-attention over all levels, then a ReLU FFN.

    Args:
        d_model: token width.
        d_ffn: FFN hidden width.
        dropout: dropout on the residual branches and after the activation.
        n_levels: feature levels.
        n_heads: attention heads.
        n_points: sampling points per head and level.
    """

    def __init__(
        self, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int, n_points: int
    ) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """``src``/``pos`` ``[B, S, C]``, ``reference_points`` ``[1 | B, S, L, 2]`` -> ``[B, S, C]``."""
        attended = self.self_attn(src + pos, reference_points, src, spatial_shapes)
        src = self.norm1(src + self.dropout1(attended))
        ffn = self.linear2(self.dropout2(F.relu_(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


def encoder_reference_points(spatial_shapes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """Every token's own pixel centre, normalised, as its reference point on every level.

    Returns:
        ``[1, S, L, 2]`` ``(x, y)``; the same for all images because the encoder sees no padding.
    """
    points = []
    for h, w in spatial_shapes:
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1))
    flat = torch.cat(points, dim=0)  # [S, 2]
    return flat[None, :, None, :].expand(1, -1, len(spatial_shapes), 2)


class MSDeformAttnEncoder(nn.Module):
    """Stack of deformable encoder layers plus the learnable level embedding.

    Named like the official ``MSDeformAttnTransformerEncoderOnly`` (``level_embed``,
    ``encoder.layers``).

    Args:
        d_model: token width.
        nhead: attention heads.
        num_layers: encoder layers.
        dim_feedforward: FFN hidden width.
        dropout: dropout rate.
        num_feature_levels: levels L.
        n_points: sampling points per head and level.
        use_checkpoint: in training, keep only each layer's inputs for the backward pass and
            recompute its activations there (activation checkpointing: less memory, more time,
            the same gradients).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        num_feature_levels: int,
        n_points: int = ENCODER_POINTS,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            MSDeformAttnEncoderLayer(d_model, dim_feedforward, dropout, num_feature_levels, nhead, n_points)
            for _ in range(num_layers)
        )
        # Official order: Xavier on all matrices, then the deformable-attention init, then level_embed.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for module in self.modules():
            if isinstance(module, MSDeformAttn):
                module._reset_parameters()
        nn.init.normal_(self.level_embed)

    def forward(self, srcs: list[torch.Tensor], pos_embeds: list[torch.Tensor]) -> torch.Tensor:
        """Encodes all levels jointly.

        Args:
            srcs: ``L`` maps ``[B, C, H_l, W_l]``.
            pos_embeds: their positional encodings, same shapes.

        Returns:
            ``[B, S, C]`` tokens of all levels, level by level, row-major (``S = sum(H_l * W_l)``).
        """
        spatial_shapes = [(src.shape[2], src.shape[3]) for src in srcs]
        tokens = torch.cat([src.flatten(2).transpose(1, 2) for src in srcs], dim=1)  # [B, S, C]
        pos = torch.cat(
            [p.flatten(2).transpose(1, 2) + self.level_embed[lvl] for lvl, p in enumerate(pos_embeds)], dim=1
        )
        reference_points = encoder_reference_points(spatial_shapes, tokens.device).to(tokens.dtype)
        recompute = self.use_checkpoint and self.training and torch.is_grad_enabled()
        for layer in self.encoder.layers:
            if recompute:
                tokens = checkpoint(layer, tokens, pos, reference_points, spatial_shapes, use_reentrant=False)
            else:
                tokens = layer(tokens, pos, reference_points, spatial_shapes)
        return tokens


@PIXEL_DECODER_REGISTRY.register()
class MSDeformAttnPixelDecoder(PixelDecoder):
    """Deformable-attention encoder over res3-res5 + one FPN step to stride 4.

    Args:
        input_shape: backbone features used (name -> ShapeSpec), e.g. res2..res5.
        encoder: the encoder's sizes (FFN width 1024 officially, not a config key).
        conv_dim: width of every map (``MODEL.SEM_SEG_HEAD.CONVS_DIM``).
        mask_dim: per-pixel embedding width (``MODEL.SEM_SEG_HEAD.MASK_DIM``).
        norm: norm of the FPN convs (``MODEL.SEM_SEG_HEAD.NORM``).
        transformer_in_features: features fed to the encoder
            (``MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES``).
        common_stride: stride of ``mask_features`` (``MODEL.SEM_SEG_HEAD.COMMON_STRIDE``).
        encoder_checkpoint: activation checkpointing of the encoder layers in training
            (``MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_USE_CHECKPOINT``).
    """

    @configurable
    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        encoder: EncoderSpec,
        conv_dim: int,
        mask_dim: int,
        norm: str = "",
        transformer_in_features: list[str],
        common_stride: int,
        encoder_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.in_strides, feature_channels = finest_first(input_shape)
        encoder_inputs = {k: v for k, v in input_shape.items() if k in transformer_in_features}
        self.transformer_in_features, self.encoder_strides, encoder_channels = finest_first(encoder_inputs)
        self.transformer_num_feature_levels = len(encoder_inputs)
        # Coarsest level first, as the encoder and the decoder's round robin expect.
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, conv_dim, kernel_size=1), nn.GroupNorm(32, conv_dim))
            for channels in encoder_channels[::-1]
        )
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        self.transformer = MSDeformAttnEncoder(
            conv_dim,
            encoder.nheads,
            encoder.num_layers,
            encoder.dim_feedforward,
            encoder.dropout,
            self.transformer_num_feature_levels,
            use_checkpoint=encoder_checkpoint,
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)
        self.conv_dim = conv_dim
        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        c2_xavier_fill(self.mask_features)
        self.maskformer_num_feature_levels = NUM_DECODER_LEVELS
        self.common_stride = common_stride
        self.num_fpn_levels = int(math.log2(self.encoder_strides[0]) - math.log2(common_stride))
        self._build_fpn(feature_channels[: self.num_fpn_levels], conv_dim, norm)

    def _build_fpn(self, channels: list[int], conv_dim: int, norm: str) -> None:
        """``adapter_i`` (1x1 lateral) and ``layer_i`` (3x3 output) for each finer-than-encoder level."""
        use_bias = norm == ""  # a norm right after the conv makes its bias redundant
        lateral_convs, output_convs = [], []
        for idx, in_channels in enumerate(channels):
            lateral = Conv2d(
                in_channels, conv_dim, kernel_size=1, bias=use_bias, norm=get_norm(norm, conv_dim)
            )
            output = Conv2d(
                conv_dim,
                conv_dim,
                kernel_size=3,
                padding=1,
                bias=use_bias,
                norm=get_norm(norm, conv_dim),
                activation=F.relu_,  # in place: neither the conv nor its norm keeps its output for backward
            )
            c2_xavier_fill(lateral)
            c2_xavier_fill(output)
            self.add_module(f"adapter_{idx + 1}", lateral)
            self.add_module(f"layer_{idx + 1}", output)
            lateral_convs.append(lateral)
            output_convs.append(output)
        # Coarsest first: the order of the top-down pass.
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        head = cfg.MODEL.SEM_SEG_HEAD
        wanted = set(head.IN_FEATURES) | set(head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES)
        missing = sorted(wanted - set(input_shape))
        if missing:
            raise ValueError(
                "MODEL.SEM_SEG_HEAD.IN_FEATURES / DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES name "
                f"{missing}, "
                f"which the backbone does not output (it outputs {sorted(input_shape)}); fix those keys "
                "or the backbone's OUT_FEATURES."
            )
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "encoder": EncoderSpec.from_config(cfg, ENCODER_FFN_DIM),
            "conv_dim": head.CONVS_DIM,
            "mask_dim": head.MASK_DIM,
            "norm": head.NORM,
            "transformer_in_features": list(head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES),
            "common_stride": head.COMMON_STRIDE,
            "encoder_checkpoint": head.DEFORMABLE_TRANSFORMER_ENCODER_USE_CHECKPOINT,
        }

    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        """Runs the encoder and the FPN step, in float32 even under autocast (as officially).

        Args:
            features: backbone maps by name, e.g. ``{"res2": [B, C2, H/4, W/4], ...}``.

        Returns:
            ``mask_features`` ``[B, mask_dim, H/4, W/4]``; the encoder output at the coarsest
            level ``[B, conv_dim, H/32, W/32]``; the first 3 maps ``[B, conv_dim, ., .]``
            (strides 32, 16, 8), lowest resolution first.
        """
        with torch.autocast(device_type=features[self.in_features[0]].device.type, enabled=False):
            return self._forward_fp32(features)

    def _forward_fp32(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        srcs, pos = [], []
        for proj, name in zip(self.input_proj, self.transformer_in_features[::-1]):
            x = features[name].float()
            srcs.append(proj(x))
            pos.append(self.pe_layer(x))
        tokens = self.transformer(srcs, pos)  # [B, S, C]
        batch = tokens.shape[0]
        sizes = [src.shape[-2:] for src in srcs]
        maps = [
            level.transpose(1, 2).reshape(batch, -1, h, w)
            for level, (h, w) in zip(tokens.split([h * w for h, w in sizes], dim=1), sizes)
        ]
        for name, lateral, output in zip(
            self.in_features[: self.num_fpn_levels][::-1], self.lateral_convs, self.output_convs
        ):
            cur = lateral(features[name].float())
            up = F.interpolate(maps[-1], size=cur.shape[-2:], mode="bilinear", align_corners=False)
            maps.append(output(cur + up))
        return PixelDecoderOutput(
            self.mask_features(maps[-1]), maps[0], maps[: self.maskformer_num_feature_levels]
        )

    def output_shape(self) -> PixelDecoderShape:
        # The encoder's levels (coarsest first), then the FPN levels down to ``common_stride``.
        strides = self.encoder_strides[::-1] + self.in_strides[: self.num_fpn_levels][::-1]
        return PixelDecoderShape(
            mask_features=ShapeSpec(channels=self.mask_dim, stride=strides[-1]),
            encoder_features=ShapeSpec(channels=self.conv_dim, stride=strides[0]),
            multi_scale_features=tuple(
                ShapeSpec(channels=self.conv_dim, stride=s)
                for s in strides[: self.maskformer_num_feature_levels]
            ),
        )
