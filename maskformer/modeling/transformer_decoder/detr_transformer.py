"""DETR's transformer stacks: an encoder over image tokens and a decoder over object queries."""

from __future__ import annotations

import torch
from torch import nn

from .layers import TransformerDecoderLayer, TransformerEncoderLayer

__all__ = ["TransformerDecoder", "TransformerEncoder"]


class TransformerEncoder(nn.Module):
    """``num_layers`` encoder layers over flattened image tokens, plus a final norm in pre-norm mode.

    As in the official (DETR) encoder, the final LayerNorm exists whenever ``normalize_before`` is
    set, also with zero layers: the encoder is then that LayerNorm alone (and the checkpoint stores
    ``encoder.norm.{weight,bias}``).

    Args:
        d_model: width C.
        nhead: heads.
        num_layers: layers (0 gives the identity in post-norm mode, the final norm in pre-norm).
        dim_feedforward: FFN width.
        dropout: dropout rate.
        normalize_before: pre-norm layers (and a final LayerNorm ``norm``).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model) if normalize_before else None

    def forward(
        self, src: torch.Tensor, mask: torch.Tensor | None = None, pos: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Encodes a feature map.

        Args:
            src: ``[B, C, H, W]`` features.
            mask: optional bool ``[B, H, W]`` padding mask (True = pad).
            pos: ``[B, C, H, W]`` positional encoding.

        Returns:
            ``[B, C, H, W]``.
        """
        b, c, h, w = src.shape
        x = src.flatten(2).permute(2, 0, 1)  # [B, C, H, W] -> [HW, B, C]
        pos_seq = None if pos is None else pos.flatten(2).permute(2, 0, 1)
        key_padding = None if mask is None else mask.flatten(1)  # [B, HW]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=key_padding, pos=pos_seq)
        if self.norm is not None:
            x = self.norm(x)
        return x.permute(1, 2, 0).reshape(b, c, h, w)


class TransformerDecoder(nn.Module):
    """``num_layers`` DETR decoder layers; returns the normalised queries after every layer.

    Args:
        d_model: width C.
        nhead: heads.
        num_layers: layers.
        dim_feedforward: FFN width.
        dropout: dropout rate.
        normalize_before: pre-norm layers.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers)
        )
        # Shared by all layers: every intermediate output is normalised before the heads see it.
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decodes the queries.

        Args:
            tgt: ``[Q, B, C]`` initial query content (zeros in DETR/MaskFormer).
            memory: ``[S, B, C]`` image tokens.
            memory_key_padding_mask: bool ``[B, S]``, True = padding.
            pos: ``[S, B, C]`` positional encoding of the memory.
            query_pos: ``[Q, B, C]`` query positional embeddings.

        Returns:
            ``[num_layers, B, Q, C]`` normalised outputs of every layer.
        """
        intermediate = []
        x = tgt
        for layer in self.layers:
            x = layer(
                x, memory, memory_key_padding_mask=memory_key_padding_mask, pos=pos, query_pos=query_pos
            )
            intermediate.append(self.norm(x))
        return torch.stack(intermediate).transpose(1, 2)  # [L, Q, B, C] -> [L, B, Q, C]
