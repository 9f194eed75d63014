"""Multi-scale deformable attention (Deformable DETR) in pure PyTorch.

Each query attends to ``n_points`` sampling locations per head and per feature level; a location
is its reference point plus a learned offset, the sampled value is bilinearly interpolated with
zero padding (``grid_sample`` semantics: ``align_corners=False``), and the samples are summed with
learned softmax weights.

Speed: the official PyTorch fallback calls ``grid_sample`` once per level and then stacks,
multiplies and reduces a ``[B*heads, C, Lq, levels*points]`` tensor; on CPU that path dominates the
whole model's inference time. Here the bilinear corner weights are multiplied by the attention
weights first, so the whole operation becomes ONE weighted gather-and-sum over
``levels * points * 4`` rows of the value table per (query, head), which ``F.embedding_bag`` with
``per_sample_weights`` does in a single fused, multi-threaded kernel on CPU and CUDA, without any
per-level ``grid_sample`` call, permute or intermediate ``[.., Lq, levels*points]`` tensor. The value
table is the value projection itself (``[B*S*heads, C]``, a free reshape), and the op is
differentiable in the values, the sampling locations and the attention weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MSDeformAttn", "ms_deform_attn_core"]


def _corner_indices_and_weights(
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> tuple[Tensor, Tensor]:
    """Flat value-table rows and weights of the 4 bilinear corners of every sampling location.

    Args:
        spatial_shapes: ``(H_l, W_l)`` of each of the ``L`` levels.
        sampling_locations: ``[N, Lq, M, L, P, 2]`` normalised ``(x, y)`` in ``[0, 1]``.
        attention_weights: ``[N, Lq, M, L, P]``.

    Returns:
        ``rows`` int64 ``[N, Lq, M, L, P, 4]``: row of the ``[N*S*M, C]`` value table (``S`` =
        total number of positions over levels), and ``weights`` ``[N, Lq, M, L, P, 4]``: bilinear
        weight * attention weight, zero for corners outside the level (zero padding).
    """
    n, _, m, _, _, _ = sampling_locations.shape
    device = sampling_locations.device
    sizes = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=sampling_locations.dtype, device=device)
    starts = [0]
    for h, w in spatial_shapes[:-1]:
        starts.append(starts[-1] + h * w)
    total = starts[-1] + spatial_shapes[-1][0] * spatial_shapes[-1][1]
    # align_corners=False: normalised 0 is the left edge of pixel 0, so pixel centre i sits at (i + 0.5) / W.
    pix = sampling_locations * sizes[:, None, :] - 0.5  # [N, Lq, M, L, P, 2]
    base = pix.floor()
    frac = pix - base
    base = base.long()
    size_l = sizes.long()[:, None, :]  # [L, 1, 2] broadcast over points
    lo_ok = (base >= 0) & (base < size_l)
    hi_ok = (base >= -1) & (base < size_l - 1)
    # [..., 2 (x|y), 2 (lo|hi)] weights and clamped coordinates of the two neighbours per axis.
    axis_w = torch.stack([(1 - frac) * lo_ok, frac * hi_ok], dim=-1)
    axis_i = torch.minimum(torch.stack([base, base + 1], dim=-1).clamp_(min=0), size_l[..., None] - 1)
    weights = axis_w[..., 1, :, None] * axis_w[..., 0, None, :]  # [..., 2 (y), 2 (x)]
    weights = (weights * attention_weights[..., None, None]).flatten(-2)
    widths = size_l[..., 0:1]  # [L, 1, 1]
    level_start = torch.tensor(starts, dtype=torch.long, device=device)[:, None, None, None]
    flat = level_start + axis_i[..., 1, :, None] * widths[..., None] + axis_i[..., 0, None, :]
    # Table row of (n, position, head) in the [N, S, M, C] value layout.
    batch = torch.arange(n, device=device).view(n, 1, 1, 1, 1, 1, 1) * total
    head = torch.arange(m, device=device).view(1, 1, m, 1, 1, 1, 1)
    rows = ((batch + flat) * m + head).flatten(-2)
    return rows, weights


def ms_deform_attn_core(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Multi-scale deformable attention sampling (no projections).

    The computation runs in float32 for half-precision inputs (and with autocast disabled), as the
    official kernel does, and the result is returned in ``value``'s dtype.

    Args:
        value: ``[N, S, M, C]`` per-head values of all levels flattened and concatenated
            (``S = sum(H_l * W_l)``, row-major within a level).
        spatial_shapes: ``(H_l, W_l)`` of each level, in the order of ``value``.
        sampling_locations: ``[N, Lq, M, L, P, 2]`` normalised ``(x, y)``; ``(0, 0)`` is the
            top-left corner of the level's first pixel, ``(1, 1)`` the bottom-right corner of its
            last one; locations outside read zeros.
        attention_weights: ``[N, Lq, M, L, P]``, normally a softmax over ``L * P``.

    Returns:
        ``[N, Lq, M * C]``.
    """
    n, s, m, c = value.shape
    lq = sampling_locations.shape[1]
    if sum(h * w for h, w in spatial_shapes) != s:
        raise ValueError(
            f"spatial_shapes {list(spatial_shapes)} cover {s} positions expected by value {value.shape}"
        )
    out_dtype = value.dtype
    compute = torch.float64 if out_dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=value.device.type, enabled=False):
        rows, weights = _corner_indices_and_weights(
            spatial_shapes, sampling_locations.to(compute), attention_weights.to(compute)
        )
        # One bag per (n, query, head): its L*P*4 corner rows, weighted and summed.
        out = F.embedding_bag(
            rows.view(n * lq * m, -1),
            value.to(compute).reshape(n * s * m, c),
            mode="sum",
            per_sample_weights=weights.view(n * lq * m, -1),
        )
    return out.view(n, lq, m * c).to(out_dtype)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (official parameter names and initialisation).

    Args:
        d_model: channels of queries and values.
        n_levels: number of feature levels.
        n_heads: attention heads; ``d_model`` must be divisible by it.
        n_points: sampling points per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"MSDeformAttn: d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Offsets start on a ring: head h points at angle 2*pi*h/heads, point i at distance i+1."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: Tensor,
        reference_points: Tensor,
        input_flatten: Tensor,
        spatial_shapes: Sequence[tuple[int, int]],
        input_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Attend from each query to sampled points of every level.

        Args:
            query: ``[N, Lq, d_model]`` (positional embedding already added).
            reference_points: ``[N, Lq, L, 2]`` normalised ``(x, y)`` per level, or
                ``[N, Lq, L, 4]`` boxes ``(cx, cy, w, h)`` whose half size scales the offsets.
            input_flatten: ``[N, S, d_model]`` all levels flattened and concatenated.
            spatial_shapes: ``(H_l, W_l)`` per level.
            input_padding_mask: optional bool ``[N, S]``, True at padded positions (read as zero).

        Returns:
            ``[N, Lq, d_model]``.
        """
        n, lq, _ = query.shape
        s = input_flatten.shape[1]
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        if len(spatial_shapes) != levels:
            raise ValueError(
                f"MSDeformAttn built for {levels} levels got {len(spatial_shapes)} spatial shapes"
            )
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, s, heads, self.d_model // heads)
        offsets = self.sampling_offsets(query).view(n, lq, heads, levels, points, 2)
        weights = self.attention_weights(query).view(n, lq, heads, levels * points).softmax(-1)
        weights = weights.view(n, lq, heads, levels, points)
        if reference_points.shape[-1] == 2:
            # Offsets are in pixels of each level: normalise by that level's (W, H).
            normalizer = torch.tensor(
                [[w, h] for h, w in spatial_shapes], dtype=offsets.dtype, device=offsets.device
            )
            locations = (
                reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
            )
        elif reference_points.shape[-1] == 4:
            locations = (
                reference_points[:, :, None, :, None, :2]
                + offsets / points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        else:
            raise ValueError(
                "reference_points must end in 2 (points) or 4 (boxes), got shape "
                f"{tuple(reference_points.shape)}"
            )
        out = ms_deform_attn_core(value, spatial_shapes, locations, weights)
        return self.output_proj(out)
