"""Swin Transformer building blocks: window attention, shifted-window blocks, patch merging, stages.

Feature maps that are not multiples of the window are padded exactly as the official Swin does:
after ``norm1``, with zeros at the bottom/right, unmasked in regular windows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

__all__ = [
    "PatchEmbed",
    "SwinStage",
    "SwinTransformerBlock",
    "WindowAttention",
    "relative_position_index",
    "shifted_window_mask",
    "window_partition",
    "window_reverse",
]


def drop_path(x: torch.Tensor, prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zeroes whole samples of a residual branch with probability ``prob``."""
    if prob == 0.0 or not training:
        return x
    keep = 1.0 - prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """``[B, H, W, C]`` -> ``[B * H/ws * W/ws, ws, ws, C]`` non-overlapping windows (contiguous).

    Contiguous so that callers can ``view`` the windows as token lists: with a single window row
    ``reshape`` would return a strided view, which ``view(-1, ws * ws, C)`` cannot flatten.
    """
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[B * nW, ws, ws, C]`` -> ``[B, H, W, C]``."""
    b = windows.shape[0] // ((h // window_size) * (w // window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def relative_position_index(window_size: int) -> torch.Tensor:
    """``[ws*ws, ws*ws]`` index into the ``(2ws-1)^2`` table of relative (dy, dx) offsets."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
    flat = coords.flatten(1)  # [2, N]
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (window_size - 1)  # [N, N, 2], >= 0
    return rel[:, :, 0] * (2 * window_size - 1) + rel[:, :, 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window with a learned relative position bias.

    Args:
        dim: channels C.
        window_size: window side ws.
        num_heads: heads.
        qkv_bias: bias in the qkv projection.
        qk_scale: override of the ``head_dim ** -0.5`` scale.
        attn_drop: dropout on attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attends within each window.

        Args:
            x: ``[B * nW, N, C]`` window tokens (N = ws*ws).
            mask: optional additive ``[nW, N, N]`` mask (0 or -100) of the shifted windows.

        Returns:
            ``[B * nW, N, C]``.
        """
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # [3, B*nW, h, N, d]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # [1, h, N, N]
        if mask is not None:
            num_windows = mask.shape[0]
            bias = bias.unsqueeze(0) + mask.unsqueeze(1).unsqueeze(0)  # [1, nW, h, N, N]
            bias = bias.expand(bw // num_windows, -1, -1, -1, -1).reshape(bw, self.num_heads, n, n)
        out = F.scaled_dot_product_attention(
            qkv[0],
            qkv[1],
            qkv[2],
            attn_mask=bias.to(qkv.dtype),
            dropout_p=self.attn_drop if self.training else 0.0,
            scale=self.scale,
        )  # [B*nW, h, N, d]
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(bw, n, c)))


class Mlp(nn.Module):
    """Linear -> GELU -> dropout -> Linear -> dropout (names ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class SwinTransformerBlock(nn.Module):
    """Window (or shifted-window) attention + MLP, both pre-norm residual.

    Args:
        dim: channels C.
        num_heads: heads.
        window_size: window side ws.
        shift_size: cyclic shift (0 for regular windows, ws // 2 for shifted ones).
        mlp_ratio: MLP hidden width / C.
        qkv_bias: bias in the qkv projection.
        qk_scale: attention scale override.
        drop: dropout after projections.
        attn_drop: dropout on attention weights.
        drop_path: stochastic depth rate.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 7,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.shift_size = shift_size
        self.drop_path = drop_path
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor, h: int, w: int, shift_mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``[B, H*W, C]`` -> ``[B, H*W, C]``; ``shift_mask`` ``[nW, N, N]`` for shifted blocks."""
        b, _, c = x.shape
        ws, shift = self.window_size, self.shift_size
        y = self.norm1(x).view(b, h, w, c)
        # Pad to window multiples after the norm (zeros), as the official implementation does.
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = y.shape[1], y.shape[2]
        if shift > 0:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        windows = window_partition(y, ws).view(-1, ws * ws, c)
        windows = self.attn(windows, mask=shift_mask if shift > 0 else None)
        y = window_reverse(windows.view(-1, ws, ws, c), ws, hp, wp)
        if shift > 0:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        y = y[:, :h, :w, :].reshape(b, h * w, c)
        x = x + drop_path(y, self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchMerging(nn.Module):
    """2x2 neighbour concatenation + LayerNorm + Linear(4C -> 2C): halves the resolution."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``[B, H*W, C]`` -> ``[B, ceil(H/2)*ceil(W/2), 2C]`` (odd sizes padded with zeros)."""
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


def shifted_window_mask(h: int, w: int, window_size: int, shift: int, device: torch.device) -> torch.Tensor:
    """Additive ``[nW, N, N]`` mask (0 / -100) keeping attention within regions of the shifted map.

    The padded map (``H``, ``W`` rounded up to window multiples) is cut into 3x3 regions by the
    shift; tokens of different regions that the cyclic shift brought into one window must not
    attend to each other.
    """
    hp = -(-h // window_size) * window_size
    wp = -(-w // window_size) * window_size
    labels = torch.zeros((1, hp, wp, 1), device=device)
    cuts = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    region = 0
    for hs in cuts:
        for wsl in cuts:
            labels[:, hs, wsl, :] = region
            region += 1
    windows = window_partition(labels, window_size).view(-1, window_size * window_size)  # [nW, N]
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class SwinStage(nn.Module):
    """``depth`` blocks alternating regular and shifted windows, then an optional PatchMerging."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        drop_paths: list[float],
        downsample: bool,
        use_checkpoint: bool = False,
        **block_kwargs,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                drop_path=drop_paths[i],
                **block_kwargs,
            )
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """Returns (stage output ``[B, H*W, C]``, next stage input, its H, its W)."""
        mask = shifted_window_mask(h, w, self.window_size, self.window_size // 2, x.device)
        for blk in self.blocks:
            if self.use_checkpoint and self.training:
                x = torch.utils.checkpoint.checkpoint(blk, x, h, w, mask, use_reentrant=False)
            else:
                x = blk(x, h, w, mask)
        if self.downsample is None:
            return x, x, h, w
        return x, self.downsample(x, h, w), (h + 1) // 2, (w + 1) // 2


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` conv embedding (+ LayerNorm); pads H, W to patch multiples."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, patch_norm: bool) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, C, ceil(H/p), ceil(W/p)]``."""
        p = self.patch_size
        x = F.pad(x, (0, (p - x.shape[3] % p) % p, 0, (p - x.shape[2] % p) % p))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x
