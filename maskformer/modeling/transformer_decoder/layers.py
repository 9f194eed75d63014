"""Attention, FFN and MLP blocks shared by the MaskFormer and Mask2Former decoders.

Everything is sequence-first (``[L, B, C]``) like the official code, and parameter names equal the
official Mask2Former ones (``self_attn.in_proj_weight``, ``norm``, ``linear1``, ...) so that official
checkpoints load unchanged. DETR's encoder and decoder layers (``detr_transformer.py``) are built
from these blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MLP",
    "CrossAttentionLayer",
    "FFNLayer",
    "MultiheadAttention",
    "SelfAttentionLayer",
    "residual",
    "with_pos_embed",
    "xavier_init_matrices",
]


def with_pos_embed(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    """Adds a positional embedding if there is one (DETR adds it to queries and keys, not values)."""
    return x if pos is None else x + pos


def residual(
    x: torch.Tensor, norm: nn.Module, pre_norm: bool, branch: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``x + branch(.)`` with the LayerNorm before the branch (pre-norm) or after the sum (post-norm).

    Args:
        x: ``[L, B, C]`` residual stream.
        norm: the block's LayerNorm.
        pre_norm: normalise the branch input (True) or the sum (False).
        branch: the block's body, dropout on its output included.

    Returns:
        ``[L, B, C]``.
    """
    out = x + branch(norm(x) if pre_norm else x)
    return out if pre_norm else norm(out)


def xavier_init_matrices(module: nn.Module) -> None:
    """Xavier-uniform initialisation of every matrix of ``module`` (DETR's transformer init).

    Mask2Former's blocks initialise themselves when built; DETR's transformer initialises all its
    layers at once after building them, so its layers build their blocks with ``init_weights=False``
    (the random stream, hence every initial value, is then the official code's).
    """
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class MultiheadAttention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameters, computed by SDPA.

    ``scaled_dot_product_attention`` picks a fused kernel where one exists, and the parameter
    layout (packed ``in_proj_weight``) keeps official checkpoints loadable.

    Args:
        embed_dim: model width C.
        num_heads: number of heads h; must divide C.
        dropout: dropout on the attention weights (training only).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim={embed_dim} is not divisible by num_heads={num_heads}."
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Same initialisation as nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        # [L, B, C] -> [B, h, L, C/h]
        return x.reshape(x.shape[0], batch, self.num_heads, -1).permute(1, 2, 0, 3)

    def _merge_masks(
        self,
        attn_mask: torch.Tensor | None,
        key_padding_mask: torch.Tensor | None,
        batch: int,
        dtype: torch.dtype,
    ) -> torch.Tensor | None:
        """Turns both masks into one SDPA mask broadcastable to ``[B, h, L, S]``.

        SDPA's bool masks mean True = may attend (the inverse of nn.MultiheadAttention's), so bool
        masks are inverted; float masks are additive and pass through.
        """
        mask = None
        if attn_mask is not None:
            if attn_mask.dim() == 3 and attn_mask.shape[0] == batch * self.num_heads:
                attn_mask = attn_mask.reshape(batch, self.num_heads, *attn_mask.shape[1:])
            elif attn_mask.dim() == 3:  # [B or 1, L, S]: shared by the heads
                attn_mask = attn_mask.unsqueeze(1)
            mask = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask.to(dtype)
        if key_padding_mask is not None:
            keep = ~key_padding_mask[:, None, None, :]  # [B, 1, 1, S]
            if mask is None:
                mask = keep
            elif mask.dtype == torch.bool:
                mask = mask & keep
            else:
                mask = mask.masked_fill(~keep, float("-inf"))
        return mask

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attends ``query`` to ``key``/``value``.

        Args:
            query: ``[L, B, C]``.
            key: ``[S, B, C]``.
            value: ``[S, B, C]``.
            attn_mask: bool (True = NOT allowed) or float additive mask, ``[L, S]`` or
                ``[B * h | B | 1, L, S]``.
            key_padding_mask: bool ``[B, S]``, True = padding.

        Returns:
            ``[L, B, C]``.
        """
        length, batch, _ = query.shape
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = self._split_heads(F.linear(query, w_q, b_q), batch)
        k = self._split_heads(F.linear(key, w_k, b_k), batch)
        v = self._split_heads(F.linear(value, w_v, b_v), batch)
        mask = self._merge_masks(attn_mask, key_padding_mask, batch, q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # [B, h, L, C/h]
        out = out.permute(2, 0, 1, 3).reshape(length, batch, self.embed_dim)
        return self.out_proj(out)

    def pool(self, value: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Attention with given weights, the same for every head (no query-key products).

        Args:
            value: ``[S, B, C]``.
            weights: ``[B, L, S]``, each row summing to 1.

        Returns:
            ``[L, B, C]``: ``out_proj(v_proj(weights @ value))`` (the value projection commutes with
            the weighted average because the weights sum to 1).
        """
        _, _, w_v = self.in_proj_weight.chunk(3)
        _, _, b_v = self.in_proj_bias.chunk(3)
        pooled = torch.einsum("bls,sbc->lbc", weights.to(value.dtype), value)
        return self.out_proj(F.linear(pooled, w_v, b_v))


class _AttentionBlock(nn.Module):
    """Residual multi-head attention, post- or pre-norm; the attention module is stored under
    ``attention_name`` (its official parameter name).

    Args:
        d_model: width C.
        nhead: heads.
        dropout: dropout on attention weights and on the residual branch.
        normalize_before: pre-norm if True, post-norm otherwise.
        init_weights: Xavier-initialise the matrices now (see :func:`xavier_init_matrices`).
    """

    attention_name: ClassVar[str]

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dropout: float = 0.0,
        normalize_before: bool = False,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        self.add_module(self.attention_name, MultiheadAttention(d_model, nhead, dropout=dropout))
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before
        if init_weights:
            xavier_init_matrices(self)


class SelfAttentionLayer(_AttentionBlock):
    """Residual self-attention over the queries (Mask2Former decoder block); see :class:`_AttentionBlock`."""

    attention_name = "self_attn"
    self_attn: MultiheadAttention

    def forward(
        self,
        tgt: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``tgt`` ``[Q, B, C]`` (+ ``query_pos`` ``[Q, B, C]``) -> ``[Q, B, C]``."""

        def branch(x: torch.Tensor) -> torch.Tensor:
            q = k = with_pos_embed(x, query_pos)
            return self.dropout(self.self_attn(q, k, x, tgt_mask, tgt_key_padding_mask))

        return residual(tgt, self.norm, self.normalize_before, branch)


class CrossAttentionLayer(_AttentionBlock):
    """Residual attention of the queries to image features; see :class:`_AttentionBlock`."""

    attention_name = "multihead_attn"
    multihead_attn: MultiheadAttention

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
        pool_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``tgt`` ``[Q, B, C]`` attends to ``memory`` ``[S, B, C]`` (+ ``pos``) -> ``[Q, B, C]``.

        With ``pool_weights`` ``[B, Q, S]`` (rows summing to 1) the attention weights are given
        instead of computed (mask pooling); masks and positions are then not used.
        """

        def branch(x: torch.Tensor) -> torch.Tensor:
            if pool_weights is not None:
                return self.dropout(self.multihead_attn.pool(memory, pool_weights))
            attended = self.multihead_attn(
                with_pos_embed(x, query_pos),
                with_pos_embed(memory, pos),
                memory,
                memory_mask,
                memory_key_padding_mask,
            )
            return self.dropout(attended)

        return residual(tgt, self.norm, self.normalize_before, branch)


class FFNLayer(nn.Module):
    """Residual two-layer ReLU feed-forward block, post- or pre-norm.

    Args:
        d_model: width C.
        dim_feedforward: hidden width.
        dropout: dropout after the activation and on the residual branch.
        normalize_before: pre-norm if True, post-norm otherwise.
        init_weights: Xavier-initialise the matrices now (see :func:`xavier_init_matrices`).
    """

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.0,
        normalize_before: bool = False,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.normalize_before = normalize_before
        if init_weights:
            xavier_init_matrices(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """``[Q, B, C]`` -> ``[Q, B, C]``."""

        def branch(x: torch.Tensor) -> torch.Tensor:
            # The official FFN body: dropout after the ReLU, before the second projection.
            return self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x)))))

        return residual(tgt, self.norm, self.normalize_before, branch)


class MLP(nn.Module):
    """A stack of ``num_layers`` Linear layers with ReLU between them (none after the last).

    Args:
        input_dim: input width.
        hidden_dim: width of the hidden layers.
        output_dim: output width.
        num_layers: number of Linear layers.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.num_layers = num_layers
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., input_dim]`` -> ``[..., output_dim]``."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < self.num_layers - 1:
                x = F.relu(x)
        return x
