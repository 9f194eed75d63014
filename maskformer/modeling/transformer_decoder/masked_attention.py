"""``MultiScaleMaskedTransformerDecoder``: Mask2Former's masked-attention decoder (paper Sec. 3).

Learnable query features (``query_feat``) and query positions (``query_embed``) are refined by
layers of masked cross-attention -> self-attention -> FFN. Layer ``i`` attends to pixel-decoder
level ``i % 3`` (strides 32, 16, 8, round robin) and only where the previous prediction's mask
is foreground (sigmoid >= 0.5, resized to that level). A prediction is made from the learnable
queries before the first layer and after every layer, with one class head and one 3-layer mask
MLP shared by all of them. Parameter names equal the official ones.

The ablations of Mask2Former Table 4 are arguments (config keys) of the same decoder: the
cross-attention variant (Table 4c, ``query_attention.py``), the attended feature levels (Table 4d:
one level for every layer, all three concatenated, or the round robin), zero-initialised instead
of learnable query features, self-attention before cross-attention, and dropout (Table 4b).
"""

from __future__ import annotations

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill

from .build import TRANSFORMER_DECODER_REGISTRY, common_decoder_args
from .layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from .position_encoding import PositionEmbeddingSine
from .query_attention import QUERY_ATTENTIONS, attend, background_blocks

__all__ = ["FEATURE_SCHEDULES", "MultiScaleMaskedTransformerDecoder", "masked_attention_mask"]

NUM_FEATURE_LEVELS = 3

# ``MODEL.MASK_FORMER.FEATURE_RESOLUTION`` -> the pixel-decoder levels (0: stride 32, 1: 16, 2: 8)
# layer ``i`` attends to (Table 4d).
FEATURE_SCHEDULES = {
    "round_robin": lambda i: [i % NUM_FEATURE_LEVELS],  # efficient multi-scale (Mask2Former)
    "concat": lambda i: list(range(NUM_FEATURE_LEVELS)),  # naive multi-scale
    "stride32": lambda i: [0],
    "stride16": lambda i: [1],
    "stride8": lambda i: [2],
}


def _join(per_level: list[torch.Tensor], levels: list[int]) -> torch.Tensor:
    """The tokens ``[S, B, C]`` of ``levels`` in order (no copy for a single level)."""
    if len(levels) == 1:
        return per_level[levels[0]]
    return torch.cat([per_level[lvl] for lvl in levels])


def masked_attention_mask(mask_logits: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """The masked-attention mask of the next layer from the current mask prediction.

    Args:
        mask_logits: ``[B, Q, H, W]`` predicted mask logits.
        size: ``(h, w)`` of the feature level the next layer attends to.

    Returns:
        bool ``[B, Q, h*w]``, True = may NOT attend (background: sigmoid < 0.5 after bilinear
        resizing). A query whose mask is background everywhere attends everywhere instead, so
        that no attention row is empty. Detached: no gradient flows through the mask.
    """
    return background_blocks(mask_logits, [size])


@TRANSFORMER_DECODER_REGISTRY.register()
class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Masked-attention transformer decoder over 3 pixel-decoder scales.

    Args:
        in_channels: channels of the multi-scale features.
        mask_classification: must be True (every Mask2Former model classifies its masks).
        num_classes: K (logits have K + 1 entries, the last being "no object").
        hidden_dim: transformer width.
        num_queries: Q.
        nheads: attention heads.
        dim_feedforward: FFN width.
        dec_layers: masked-attention layers (``MODEL.MASK_FORMER.DEC_LAYERS - 1``: the config
            counts the prediction from the learnable queries as a layer).
        pre_norm: pre-norm layers.
        mask_dim: per-pixel embedding width of ``mask_features``.
        enforce_input_project: add the 1x1 ``input_proj`` even when ``in_channels == hidden_dim``.
        cross_attention: how queries read the features, a key of ``QUERY_ATTENTIONS``
            (``"masked"``, ``"standard"``, ``"smca"``, ``"mask_pooling"``).
        feature_resolution: which levels each layer attends to, a key of ``FEATURE_SCHEDULES``.
        learnable_query_features: learn ``query_feat`` (True) or start from zeros as DETR.
        cross_attention_first: cross-attention -> self-attention -> FFN (True) or self-attention
            first.
        dropout: dropout of the attention and FFN layers (0 officially).
    """

    @configurable
    def __init__(
        self,
        in_channels: int,
        mask_classification: bool = True,
        *,
        num_classes: int,
        hidden_dim: int,
        num_queries: int,
        nheads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        mask_dim: int,
        enforce_input_project: bool,
        cross_attention: str = "masked",
        feature_resolution: str = "round_robin",
        learnable_query_features: bool = True,
        cross_attention_first: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not mask_classification:
            raise ValueError("MultiScaleMaskedTransformerDecoder only supports mask classification.")
        for key, value, choices in [
            ("CROSS_ATTENTION", cross_attention, QUERY_ATTENTIONS),
            ("FEATURE_RESOLUTION", feature_resolution, FEATURE_SCHEDULES),
        ]:
            if value not in choices:
                raise ValueError(f"MODEL.MASK_FORMER.{key}={value!r}: choose one of {sorted(choices)}.")
        self.mask_classification = mask_classification
        self.cross_attention = cross_attention
        self.levels_of_layer = FEATURE_SCHEDULES[feature_resolution]
        self.cross_attention_first = cross_attention_first
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads, dropout=dropout, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads, dropout=dropout, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward, dropout=dropout, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.num_queries = num_queries
        # Zero-initialised query features (DETR) are a constant: no parameter, no checkpoint key.
        self.query_feat = nn.Embedding(num_queries, hidden_dim) if learnable_query_features else None
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.num_feature_levels = NUM_FEATURE_LEVELS
        self.level_embed = nn.Embedding(NUM_FEATURE_LEVELS, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(NUM_FEATURE_LEVELS):
            if in_channels != hidden_dim or enforce_input_project:
                proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
                c2_xavier_fill(proj)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Sequential())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels: int, mask_classification: bool = True) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        if mf.DEC_LAYERS < 1:
            raise ValueError(
                f"MODEL.MASK_FORMER.DEC_LAYERS={mf.DEC_LAYERS}: Mask2Former needs >= 1 (the prediction from "
                "the learnable queries counts as one; the official configs use 10)."
            )
        return {
            **common_decoder_args(cfg, in_channels, mask_classification),
            "dec_layers": mf.DEC_LAYERS - 1,
            "cross_attention": mf.CROSS_ATTENTION,
            "feature_resolution": mf.FEATURE_RESOLUTION,
            "learnable_query_features": mf.LEARNABLE_QUERY_FEATURES,
            "cross_attention_first": mf.CROSS_ATTENTION_FIRST,
            "dropout": mf.DECODER_DROPOUT,
        }

    def _flatten_levels(self, x: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level: tokens (projection + level embedding) and positions, both ``[h*w, B, C]``."""
        srcs, pos = [], []
        for lvl, feature in enumerate(x):
            pos.append(self.pe_layer(feature).flatten(2).permute(2, 0, 1))
            src = self.input_proj[lvl](feature).flatten(2) + self.level_embed.weight[lvl][None, :, None]
            srcs.append(src.permute(2, 0, 1))  # [B, C, h*w] -> [h*w, B, C]
        return srcs, pos

    def forward_prediction_heads(
        self, output: torch.Tensor, mask_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and mask logits from the queries.

        Args:
            output: ``[Q, B, C]`` query features.
            mask_features: ``[B, mask_dim, H, W]``.

        Returns:
            ``[B, Q, K+1]`` logits and ``[B, Q, H, W]`` mask logits.
        """
        decoded = self.decoder_norm(output).transpose(0, 1)  # [B, Q, C]
        logits = self.class_embed(decoded)
        masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoded), mask_features)
        return logits, masks

    def _initial_queries(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Query features and positions ``[Q, B, C]`` before the first layer."""
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, batch, 1)
        if self.query_feat is None:
            return torch.zeros_like(query_pos, dtype=like.dtype), query_pos
        return self.query_feat.weight.unsqueeze(1).repeat(1, batch, 1), query_pos

    def _layer(
        self,
        i: int,
        output: torch.Tensor,
        query_pos: torch.Tensor,
        masks: torch.Tensor,
        srcs: list[torch.Tensor],
        pos: list[torch.Tensor],
        sizes: list[torch.Size],
    ) -> torch.Tensor:
        """Decoder layer ``i``: cross-attention to its levels, self-attention, FFN."""
        levels = self.levels_of_layer(i)
        memory, memory_pos = _join(srcs, levels), _join(pos, levels)
        level_sizes = [sizes[lvl] for lvl in levels]

        def cross(x: torch.Tensor) -> torch.Tensor:
            layer = self.transformer_cross_attention_layers[i]
            return attend(self.cross_attention, layer, x, memory, memory_pos, query_pos, masks, level_sizes)

        def self_attend(x: torch.Tensor) -> torch.Tensor:
            return self.transformer_self_attention_layers[i](x, query_pos=query_pos)

        first, second = (cross, self_attend) if self.cross_attention_first else (self_attend, cross)
        return self.transformer_ffn_layers[i](second(first(output)))

    def forward(
        self, x: list[torch.Tensor], mask_features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | list[dict[str, torch.Tensor]]]:
        """Predicts a class and a mask per query after every layer.

        Args:
            x: 3 maps ``[B, in_channels, h_l, w_l]``, lowest resolution first.
            mask_features: ``[B, mask_dim, H/4, W/4]`` per-pixel embeddings.
            mask: padding mask; unused, as officially (padding is not masked out).

        Returns:
            ``pred_logits`` ``[B, Q, K+1]``, ``pred_masks`` ``[B, Q, H/4, W/4]`` of the last layer,
            and ``aux_outputs``: the same for the learnable queries and every layer but the last.
        """
        if len(x) != self.num_feature_levels:
            raise ValueError(f"expected {self.num_feature_levels} feature levels, got {len(x)}")
        srcs, pos = self._flatten_levels(x)
        sizes = [feature.shape[-2:] for feature in x]
        output, query_pos = self._initial_queries(mask_features.shape[0], srcs[0])
        logits, masks = self.forward_prediction_heads(output, mask_features)
        predictions = [{"pred_logits": logits, "pred_masks": masks}]
        for i in range(self.num_layers):
            output = self._layer(i, output, query_pos, masks, srcs, pos, sizes)
            logits, masks = self.forward_prediction_heads(output, mask_features)
            predictions.append({"pred_logits": logits, "pred_masks": masks})
        out = dict(predictions[-1])
        out["aux_outputs"] = predictions[:-1]
        return out
