"""DETR's transformer stacks: an encoder over image tokens and a decoder over object queries.

The layers are built from the shared blocks of ``layers.py`` (self-attention, cross-attention,
FFN). Their state dicts keep the official DETR / MaskFormer names (``self_attn``,
``multihead_attn``, ``linear1``, ``linear2``, ``norm1..3``) so that official checkpoints, the HF
converters and this project's own earlier checkpoints load unchanged: :class:`OfficialNames`
renames at the module's checkpoint edge (``state_dict`` / ``load_state_dict``), while the
attributes and ``named_parameters`` use the blocks' names.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = [
    "OfficialNames",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


def _move_prefixes(state_dict: dict[str, Any], prefix: str, pairs: tuple[tuple[str, str], ...]) -> None:
    """Renames ``prefix + old...`` to ``prefix + new...`` in place, pair by pair (in the pairs' order)."""
    for old, new in pairs:
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)


class OfficialNames(nn.Module):
    """A module whose state dict uses the official parameter names of ``OFFICIAL_NAMES``.

    ``OFFICIAL_NAMES`` lists ``(official prefix, own prefix)`` pairs in the official order, e.g.
    ``("norm1.", "self_attention.norm.")``. ``state_dict()`` writes the official names in that
    order (the order of the official layer); ``load_state_dict`` accepts them.
    """

    OFFICIAL_NAMES: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        # torch's private hook names: the public ones exist only from torch 2.5 (setup.py allows 2.1).
        self._register_state_dict_hook(OfficialNames._to_official)
        self._register_load_state_dict_pre_hook(OfficialNames._from_official, with_module=True)

    @staticmethod
    def _to_official(module: OfficialNames, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        _move_prefixes(state_dict, prefix, tuple((own, official) for official, own in module.OFFICIAL_NAMES))

    @staticmethod
    def _from_official(module: OfficialNames, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        _move_prefixes(state_dict, prefix, module.OFFICIAL_NAMES)


# The official DETR layer's names of each block's modules (its LayerNorm aside).
_OFFICIAL_BLOCK_MODULES = {
    "self_attention": ("self_attn",),
    "cross_attention": ("multihead_attn",),
    "ffn": ("linear1", "linear2"),
}


def _official_names(blocks: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``OFFICIAL_NAMES`` of a DETR layer made of ``blocks``: in the official layer, the blocks'
    modules sit directly in the layer, followed by one LayerNorm per block, ``norm1``, ``norm2``, ...
    (e.g. ``("norm2.", "ffn.norm.")`` for the encoder layer)."""
    modules = [(f"{m}.", f"{block}.{m}.") for block in blocks for m in _OFFICIAL_BLOCK_MODULES[block]]
    norms = [(f"norm{i}.", f"{block}.norm.") for i, block in enumerate(blocks, start=1)]
    return tuple(modules + norms)


class _DetrLayer(OfficialNames):
    """A DETR layer built from the shared blocks: self-attention, [cross-attention,] FFN.

    Args:
        d_model: width C.
        nhead: heads.
        dim_feedforward: FFN hidden width.
        dropout: dropout rate everywhere.
        normalize_before: pre-norm if True.
    """

    has_cross_attention: ClassVar[bool]

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
    ) -> None:
        super().__init__()
        # DETR's transformer initialises all layers at once (see xavier_init_matrices).
        pre = normalize_before
        self.self_attention = SelfAttentionLayer(d_model, nhead, dropout, pre, init_weights=False)
        if self.has_cross_attention:
            self.cross_attention = CrossAttentionLayer(d_model, nhead, dropout, pre, init_weights=False)
        self.ffn = FFNLayer(d_model, dim_feedforward, dropout, pre, init_weights=False)


class TransformerEncoderLayer(_DetrLayer):
    """DETR encoder layer over image tokens: self-attention block, then FFN block.

    Arguments as :class:`_DetrLayer`.
    """

    has_cross_attention = False
    OFFICIAL_NAMES = _official_names(("self_attention", "ffn"))

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``src`` ``[S, B, C]`` (+ ``pos``; padding mask ``[B, S]``) -> ``[S, B, C]``."""
        return self.ffn(self.self_attention(src, src_mask, src_key_padding_mask, query_pos=pos))


class TransformerDecoderLayer(_DetrLayer):
    """DETR decoder layer: query self-attention, cross-attention to the image, FFN (three blocks).

    Arguments as :class:`_DetrLayer`.
    """

    has_cross_attention = True
    OFFICIAL_NAMES = _official_names(("self_attention", "cross_attention", "ffn"))

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One decoder step of the queries; arguments as :meth:`TransformerDecoder.forward`.

        Returns:
            ``[Q, B, C]``.
        """
        tgt = self.self_attention(tgt, query_pos=query_pos)
        tgt = self.cross_attention(
            tgt, memory, memory_key_padding_mask=memory_key_padding_mask, pos=pos, query_pos=query_pos
        )
        return self.ffn(tgt)


class _LayerStack(nn.Module):
    """``num_layers`` layers of ``layer_class`` and a final ``norm`` (DETR's encoder and decoder).

    Args:
        d_model: width C.
        nhead: heads.
        num_layers: layers.
        dim_feedforward: FFN width.
        dropout: dropout rate.
        normalize_before: pre-norm layers.
    """

    layer_class: ClassVar[type[nn.Module]]
    # Whether post-norm stacks end with a LayerNorm too (pre-norm stacks always do, as officially).
    post_norm_has_final_norm: ClassVar[bool]

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
            self.layer_class(d_model, nhead, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers)
        )
        has_norm = normalize_before or self.post_norm_has_final_norm
        self.norm = nn.LayerNorm(d_model) if has_norm else None


class TransformerEncoder(_LayerStack):
    """``num_layers`` encoder layers over flattened image tokens, plus a final norm in pre-norm mode.

    As in the official (DETR) encoder, the final LayerNorm exists whenever ``normalize_before`` is
    set, also with zero layers: the encoder is then that LayerNorm alone (and the checkpoint stores
    ``encoder.norm.{weight,bias}``). Arguments as :class:`_LayerStack` (0 layers give the identity
    in post-norm mode).
    """

    layer_class = TransformerEncoderLayer
    post_norm_has_final_norm = False

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


class TransformerDecoder(_LayerStack):
    """``num_layers`` DETR decoder layers; returns the normalised queries after every layer.

    Arguments as :class:`_LayerStack`.
    """

    layer_class = TransformerDecoderLayer
    # Shared by all layers: every intermediate output is normalised before the heads see it.
    post_norm_has_final_norm = True

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
