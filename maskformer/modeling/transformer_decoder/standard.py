"""``StandardTransformerDecoder``: MaskFormer's DETR decoder with class and mask-embedding heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.layers import Conv2d, c2_xavier_fill

from .build import TRANSFORMER_DECODER_REGISTRY, common_decoder_args
from .detr_transformer import TransformerDecoder, TransformerEncoder
from .layers import MLP, xavier_init_matrices
from .position_encoding import PositionEmbeddingSine

__all__ = ["StandardTransformerDecoder"]


@TRANSFORMER_DECODER_REGISTRY.register()
class StandardTransformerDecoder(nn.Module):
    """N learnable queries decoded against one feature map; each yields class logits and a mask.

    ``masks = einsum(MLP(queries), mask_features)`` (paper Sec. 3.3). With deep supervision, the
    predictions after every decoder layer are returned for auxiliary losses.

    Args:
        in_channels: channels of the attended feature map.
        mask_classification: predict class logits (False for the per-pixel "plus" baseline, whose
            queries are the classes).
        num_classes: K (logits have K + 1 entries, the last being "no object").
        hidden_dim: transformer width.
        num_queries: N.
        nheads: attention heads.
        dropout: dropout rate.
        dim_feedforward: FFN width.
        enc_layers: extra encoder layers on the attended map (0 in every MaskFormer config).
        dec_layers: decoder layers.
        pre_norm: pre-norm layers.
        deep_supervision: return the predictions of intermediate layers as ``aux_outputs``.
        mask_dim: per-pixel embedding width of ``mask_features``.
        enforce_input_project: add the 1x1 ``input_proj`` even when ``in_channels == hidden_dim``.
        box_head: also predict a box per query (``bbox_embed``, DETR's 3-layer MLP + sigmoid:
            normalised ``(cx, cy, w, h)`` in ``pred_boxes``), for MaskFormer Table 5's matching by box.
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
        dropout: float,
        dim_feedforward: int,
        enc_layers: int,
        dec_layers: int,
        pre_norm: bool,
        deep_supervision: bool,
        mask_dim: int,
        enforce_input_project: bool,
        box_head: bool = False,
    ) -> None:
        super().__init__()
        self.mask_classification = mask_classification
        self.num_queries = num_queries
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        # Named `transformer.{encoder,decoder}` as in the official checkpoints.
        self.transformer = nn.Module()
        self.transformer.encoder = TransformerEncoder(
            hidden_dim, nheads, enc_layers, dim_feedforward, dropout, pre_norm
        )
        self.transformer.decoder = TransformerDecoder(
            hidden_dim, nheads, dec_layers, dim_feedforward, dropout, pre_norm
        )
        xavier_init_matrices(self.transformer)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        if in_channels != hidden_dim or enforce_input_project:
            self.input_proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
            c2_xavier_fill(self.input_proj)
        else:
            self.input_proj = nn.Identity()
        self.aux_loss = deep_supervision
        if mask_classification:
            self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3) if box_head else None

    @classmethod
    def from_config(cls, cfg, in_channels: int, mask_classification: bool = True) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        return {
            **common_decoder_args(cfg, in_channels, mask_classification),
            "dropout": mf.DROPOUT,
            "enc_layers": mf.ENC_LAYERS,
            "dec_layers": mf.DEC_LAYERS,
            "deep_supervision": mf.DEEP_SUPERVISION,
            "box_head": mf.BOX_HEAD,
        }

    def forward(
        self, x: torch.Tensor, mask_features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | list[dict[str, torch.Tensor]]]:
        """Predicts a class and a mask per query.

        Args:
            x: ``[B, C_in, h, w]`` feature map the queries attend to.
            mask_features: ``[B, mask_dim, H/4, W/4]`` per-pixel embeddings.
            mask: optional bool ``[B, H', W']`` padding mask (True = pad), resized to ``x``.

        Returns:
            ``pred_logits`` ``[B, Q, K+1]`` (if mask_classification), ``pred_masks``
            ``[B, Q, H/4, W/4]``, ``pred_boxes`` ``[B, Q, 4]`` (with the box head),
            ``aux_outputs``: the same per intermediate layer (empty without deep supervision).
        """
        if mask is not None:
            mask = F.interpolate(mask[None].float(), size=x.shape[-2:]).to(torch.bool)[0]
        pos = self.pe_layer(x, mask)
        src = self.input_proj(x)
        b, c, h, w = src.shape
        memory = self.transformer.encoder(src, mask, pos)
        pos_seq = pos.flatten(2).permute(2, 0, 1)  # [B, C, h, w] -> [hw, B, C]
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, b, 1)  # [Q, B, C]
        hs = self.transformer.decoder(
            torch.zeros_like(query_pos),  # query content starts at zero; queries differ by position
            memory.flatten(2).permute(2, 0, 1),
            memory_key_padding_mask=None if mask is None else mask.flatten(1),
            pos=pos_seq,
            query_pos=query_pos,
        )  # [L, B, Q, C]
        if not self.aux_loss:
            hs = hs[-1:]
        masks = torch.einsum("lbqc,bchw->lbqhw", self.mask_embed(hs), mask_features)
        logits = self.class_embed(hs) if self.mask_classification else None
        boxes = self.bbox_embed(hs).sigmoid() if self.bbox_embed is not None else None
        per_layer = [self._prediction(logits, masks, boxes, i) for i in range(hs.shape[0])]
        out = per_layer[-1]
        out["aux_outputs"] = per_layer[:-1]
        return out

    @staticmethod
    def _prediction(
        logits: torch.Tensor | None, masks: torch.Tensor, boxes: torch.Tensor | None, layer: int
    ) -> dict[str, torch.Tensor]:
        out = {"pred_masks": masks[layer]}
        if logits is not None:
            out["pred_logits"] = logits[layer]
        if boxes is not None:
            out["pred_boxes"] = boxes[layer]
        return out
