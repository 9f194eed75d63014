"""``MultiScaleMaskedTransformerDecoder``: Mask2Former's masked-attention decoder (paper Sec. 3).

Learnable query features (``query_feat``) and query positions (``query_embed``) are refined by
layers of masked cross-attention -> self-attention -> FFN. Layer ``i`` attends to pixel-decoder
level ``i % 3`` (strides 32, 16, 8, round robin) and only where the previous prediction's mask
is foreground (sigmoid >= 0.5, resized to that level). A prediction is made from the learnable
queries before the first layer and after every layer, with one class head and one 3-layer mask
MLP shared by all of them. Parameter names equal the official ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill

from .build import TRANSFORMER_DECODER_REGISTRY
from .layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from .position_encoding import PositionEmbeddingSine

__all__ = ["MultiScaleMaskedTransformerDecoder", "masked_attention_mask"]

NUM_FEATURE_LEVELS = 3


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
    resized = F.interpolate(mask_logits.detach(), size=size, mode="bilinear", align_corners=False)
    blocked = resized.sigmoid().flatten(2) < 0.5
    return blocked & ~blocked.all(dim=-1, keepdim=True)


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
    ) -> None:
        super().__init__()
        if not mask_classification:
            raise ValueError("MultiScaleMaskedTransformerDecoder only supports mask classification.")
        self.mask_classification = mask_classification
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads, dropout=0.0, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads, dropout=0.0, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward, dropout=0.0, normalize_before=pre_norm)
            for _ in range(dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.num_queries = num_queries
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
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
            "in_channels": in_channels,
            "mask_classification": mask_classification,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "hidden_dim": mf.HIDDEN_DIM,
            "num_queries": mf.NUM_OBJECT_QUERIES,
            "nheads": mf.NHEADS,
            "dim_feedforward": mf.DIM_FEEDFORWARD,
            "dec_layers": mf.DEC_LAYERS - 1,
            "pre_norm": mf.PRE_NORM,
            "mask_dim": cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
            "enforce_input_project": mf.ENFORCE_INPUT_PROJ,
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
        self, output: torch.Tensor, mask_features: torch.Tensor, attn_mask_target_size: torch.Size
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Class logits, mask logits and the next layer's attention mask from the queries.

        Args:
            output: ``[Q, B, C]`` query features.
            mask_features: ``[B, mask_dim, H, W]``.
            attn_mask_target_size: ``(h, w)`` of the level the next layer attends to.

        Returns:
            ``[B, Q, K+1]`` logits, ``[B, Q, H, W]`` mask logits, bool ``[B, Q, h*w]`` mask.
        """
        decoded = self.decoder_norm(output).transpose(0, 1)  # [B, Q, C]
        logits = self.class_embed(decoded)
        masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoded), mask_features)
        return logits, masks, masked_attention_mask(masks, attn_mask_target_size)

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
        batch = mask_features.shape[0]
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, batch, 1)  # [Q, B, C]
        output = self.query_feat.weight.unsqueeze(1).repeat(1, batch, 1)
        logits, masks, attn_mask = self.forward_prediction_heads(output, mask_features, sizes[0])
        predictions = [{"pred_logits": logits, "pred_masks": masks}]
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            # [B, Q, h*w] is shared by the heads (the official code repeats it per head).
            output = self.transformer_cross_attention_layers[i](
                output, srcs[level], memory_mask=attn_mask, pos=pos[level], query_pos=query_pos
            )
            output = self.transformer_self_attention_layers[i](output, query_pos=query_pos)
            output = self.transformer_ffn_layers[i](output)
            next_size = sizes[(i + 1) % self.num_feature_levels]
            logits, masks, attn_mask = self.forward_prediction_heads(output, mask_features, next_size)
            predictions.append({"pred_logits": logits, "pred_masks": masks})
        out = dict(predictions[-1])
        out["aux_outputs"] = predictions[:-1]
        return out
