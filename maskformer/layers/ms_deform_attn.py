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
``per_sample_weights`` does in a single fused, multi-threaded kernel, without any per-level
``grid_sample`` call, permute or intermediate ``[.., Lq, levels*points]`` tensor. The value table is
the value projection itself (``[B*S*heads, C]``, a free reshape), and the op is differentiable in
the values, the sampling locations and the attention weights. On GPUs, where ``grid_sample``'s
kernels are the faster ones, the per-level ``grid_sample`` formulation runs instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MSDeformAttn", "ms_deform_attn_core"]


def _pad_levels(value: Tensor, spatial_shapes: Sequence[tuple[int, int]]) -> Tensor:
    """Surround every level with zeros (1 row/column before, 2 after) so that any clamped corner
    reads a valid row: ``[N, S, M, C] -> [N, sum((H_l + 3) * (W_l + 3)), M, C]``."""
    n, _, m, c = value.shape
    levels = value.split([h * w for h, w in spatial_shapes], dim=1)
    padded = [
        F.pad(level.reshape(n, h, w, m * c), (0, 0, 1, 2, 1, 2)).reshape(n, -1, m, c)
        for level, (h, w) in zip(levels, spatial_shapes)
    ]
    return torch.cat(padded, dim=1)


class _Cells(NamedTuple):
    """The bilinear cell of every sampling location in the padded value table."""

    top_left: Tensor  # [N, Lq, M, L, P] table row of the cell's top-left corner (int32 or int64)
    corner_offsets: Tensor  # [L, 1, 4] rows of the 4 corners relative to the top-left one
    frac: Tensor  # [N, Lq, M, L, P, 2] (x, y) position inside the cell, in [0, 1)
    inside: Tensor  # [N, Lq, M, L, P, 2] bool: the pixel coordinate was not clamped
    size: Tensor  # [L, 1, 2] level widths and heights

    def rows(self) -> Tensor:
        """``[N, Lq, M, L, P, 4]`` rows of the corners (y0,x0), (y0,x1), (y1,x0), (y1,x1)."""
        return self.top_left[..., None] + self.corner_offsets


def _cells(spatial_shapes: Sequence[tuple[int, int]], sampling_locations: Tensor) -> _Cells:
    """Locates every sampling location in the ``[N * S_pad * M, C]`` table made by ``_pad_levels``.

    Corners outside a level land in its zero border, which gives ``grid_sample``'s zero padding.

    Args:
        spatial_shapes: ``(H_l, W_l)`` of each of the ``L`` levels.
        sampling_locations: ``[N, Lq, M, L, P, 2]`` normalised ``(x, y)``.
    """
    n, _, m = sampling_locations.shape[:3]
    device = sampling_locations.device
    sizes = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=sampling_locations.dtype, device=device)
    size = sizes[:, None, :]  # [L, 1, 2] broadcast over points
    # align_corners=False: pixel centre i sits at (i + 0.5) / W. Beyond one pixel outside, every
    # corner is zero anyway, so clamping there changes neither value nor gradient (both zero).
    # The gradient passes at exactly -1 and W, as grid_sample's does (its corners are floor and
    # floor + 1, so at -1 the right corner is the first pixel).
    pix = sampling_locations * size - 0.5
    inside = (pix >= -1.0) & (pix <= size)
    pix = torch.where(pix < -1.0, -1.0, torch.where(pix > size, size, pix))
    low = pix.floor()
    frac = pix - low
    # int32 rows halve the memory traffic of the index arithmetic; int64 only for huge tables.
    index_dtype = (
        torch.int32 if n * m * sum((h + 3) * (w + 3) for h, w in spatial_shapes) < 2**31 else torch.long
    )
    low = low.to(index_dtype) + 1  # coordinates in the padded level
    padded_w = (sizes[:, 0].to(index_dtype) + 3)[:, None]  # [L, 1]
    starts = [0]
    for h, w in spatial_shapes:
        starts.append(starts[-1] + (h + 3) * (w + 3))
    # Table row of (n, padded position, head) in the [N, S_pad, M, C] layout.
    level_base = torch.tensor(starts[:-1], dtype=index_dtype, device=device)[:, None] * m
    batch_base = torch.arange(n, dtype=index_dtype, device=device).view(n, 1, 1, 1, 1) * (starts[-1] * m)
    head = torch.arange(m, dtype=index_dtype, device=device).view(1, 1, m, 1, 1)
    top_left = (low[..., 1] * padded_w + low[..., 0]) * m + (level_base + batch_base + head)
    offsets = torch.cat([padded_w * 0, padded_w * 0 + 1, padded_w, padded_w + 1], dim=-1)[:, None, :] * m
    return _Cells(top_left, offsets, frac, inside, size)


class _Bilinear(NamedTuple):
    """The factors of the corner weights, shared by the forward and backward passes."""

    fx: Tensor  # [N, Lq, M, L, P] x position inside the cell
    fy: Tensor  # [N, Lq, M, L, P] y position inside the cell
    upper: Tensor  # attention weight * (1 - fy): the weight of the cell's upper row
    lower: Tensor  # attention weight * fy: the weight of its lower row

    @classmethod
    def of(cls, frac: Tensor, attention_weights: Tensor) -> _Bilinear:
        fx, fy = frac.unbind(-1)
        return cls(fx, fy, attention_weights * (1 - fy), attention_weights * fy)

    def corner_weights(self) -> Tensor:
        """``[N, Lq, M, L, P, 4]`` bilinear weight * attention weight of the corners of ``_Cells.rows``."""
        fx, upper, lower = self.fx, self.upper, self.lower
        return torch.stack([upper * (1 - fx), upper * fx, lower * (1 - fx), lower * fx], dim=-1)


class _DeformableGather(torch.autograd.Function):
    """Bilinear sampling of every location, weighted by attention and summed per (query, head).

    ``out[b] = sum_k weights[b, k] * table[rows[b, k]]`` over the ``L * P * 4`` corners ``k`` of
    bag ``b = (n, query, head)``, in one ``embedding_bag`` call. The backward pass keeps the table,
    the attention weights and each location's cell (its top-left row and position inside) and
    rebuilds the corner rows and weights from them: a layer keeps ~3x less than autograd's graph
    through the corner arithmetic would, for the same gradients. Autograd's own ``embedding_bag``
    backward sorts all indices and runs a serial per-sample loop (~50x the forward time on CPU);
    here the weight gradient is a sampled dense-dense product (``sampled_addmm``) and the table
    gradient the transposed gather (entries sorted by table row, one ``embedding_bag`` per
    bilinear corner). CPU only: accelerators run ``_grid_sample_core``.
    """

    @staticmethod
    def forward(
        ctx,
        table: Tensor,
        sampling_locations: Tensor,
        attention_weights: Tensor,
        spatial_shapes: tuple[tuple[int, int], ...],
    ) -> Tensor:
        """``table`` ``[N * S_pad * M, C]``, the rest as ``_cells`` / ``_Bilinear`` ->
        ``[N * Lq * M, C]``."""
        cells = _cells(spatial_shapes, sampling_locations)
        ctx.save_for_backward(table, attention_weights, *cells)
        bags = attention_weights.shape[:3].numel()
        weights = _Bilinear.of(cells.frac, attention_weights).corner_weights()
        return F.embedding_bag(
            cells.rows().view(bags, -1), table, mode="sum", per_sample_weights=weights.view(bags, -1)
        )

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None, None]:
        table, attention, *saved = ctx.saved_tensors
        cells = _Cells(*saved)
        bags = attention.shape[:3].numel()
        rows = cells.rows().view(bags, -1)
        grad_out = grad_out.contiguous()
        bilinear = _Bilinear.of(cells.frac, attention)
        grad_table = grad_locations = grad_attention = None
        if ctx.needs_input_grad[0]:
            weights = bilinear.corner_weights().view(bags, -1)
            grad_table = _scatter_weighted(grad_out, rows, weights, table.shape[0])
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_weights = _sampled_dots(grad_out, table, rows).view(*attention.shape, 4)
            grad_locations, grad_attention = _bilinear_backward(grad_weights, bilinear, cells, attention)
        return grad_table, grad_locations, grad_attention, None


def _bilinear_backward(
    grad_weights: Tensor, bilinear: _Bilinear, cells: _Cells, attention: Tensor
) -> tuple[Tensor, Tensor]:
    """The chain rule through ``_Bilinear.corner_weights`` and the cell position.

    Args:
        grad_weights: ``[N, Lq, M, L, P, 4]`` gradient of the corner weights.
        bilinear: the factors of those weights.
        cells: the locations' cells.
        attention: ``[N, Lq, M, L, P]`` attention weights.

    Returns:
        The gradients of the locations ``[N, Lq, M, L, P, 2]`` (zero where the pixel coordinate
        was clamped) and of the attention weights ``[N, Lq, M, L, P]``.
    """
    g00, g01, g10, g11 = grad_weights.unbind(-1)
    fx, fy, upper, lower = bilinear
    grad_upper, grad_lower = g00 * (1 - fx) + g01 * fx, g10 * (1 - fx) + g11 * fx
    grad_attention = grad_upper * (1 - fy) + grad_lower * fy
    grad_fx = (g01 - g00) * upper + (g11 - g10) * lower
    grad_fy = (grad_lower - grad_upper) * attention
    grad_pix = torch.stack([grad_fx, grad_fy], dim=-1) * cells.inside
    return grad_pix * cells.size, grad_attention


def _scatter_weighted(grad_out: Tensor, rows: Tensor, weights: Tensor, num_rows: int) -> Tensor:
    """``grad_table[rows[b, k]] += weights[b, k] * grad_out[b]``; returns ``[num_rows, C]``.

    The transposed gather: entries sorted by table row become bags of the fast ``embedding_bag``
    kernel (``index_add_`` on CPU is a serial scatter, ~20x slower here), one call per bilinear
    corner. Only the top-left corners are sorted (a quarter of the entries): the other corners of
    a location are its top-left row plus an offset that is constant within a level, and a level's
    rows stay inside its own zero-bordered block of the table, so the same order sorts them too.

    Args:
        grad_out: ``[B, C]``.
        rows: ``[B, K]``, ``K`` a multiple of 4, grouped by location in the corner order of
            ``_Cells.rows``.
        weights: ``[B, K]``.
        num_rows: rows of the table.
    """
    corner_rows = rows.reshape(-1, 4)
    order = corner_rows[:, 0].argsort()
    bag_of_entry = order.div(rows.shape[1] // 4, rounding_mode="floor").to(rows.dtype)
    sorted_weights = weights.reshape(-1, 4).index_select(0, order)  # a gather of 4-float rows
    grad_table = None
    for corner in range(4):
        counts = torch.bincount(corner_rows[:, corner], minlength=num_rows)
        offsets = torch.zeros_like(counts)
        torch.cumsum(counts[:-1], 0, out=offsets[1:])
        part = F.embedding_bag(
            bag_of_entry,
            grad_out,
            offsets.to(rows.dtype),
            mode="sum",
            per_sample_weights=sorted_weights[:, corner].contiguous(),
        )
        grad_table = part if grad_table is None else grad_table.add_(part)
    return grad_table


def _sampled_dots(grad_out: Tensor, table: Tensor, rows: Tensor) -> Tensor:
    """``dots[b, k] = <grad_out[b], table[rows[b, k]]>``; returns ``[B, K]``."""
    bags, per_bag = rows.shape
    # A CSR pattern with one row per bag: sampled_addmm evaluates only the needed dot products.
    crow = torch.arange(0, bags * per_bag + 1, per_bag, dtype=rows.dtype, device=rows.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        pattern = torch.sparse_csr_tensor(
            crow,
            rows.reshape(-1),
            grad_out.new_zeros(bags * per_bag),
            size=(bags, table.shape[0]),
            check_invariants=False,
        )
    return torch.sparse.sampled_addmm(pattern, grad_out, table.t(), beta=0.0).values().view(bags, per_bag)


def _grid_sample_core(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """The same sampling as ``ms_deform_attn_core`` with one ``grid_sample`` per level.

    Slower on CPU, but made of operators every exporter knows (ONNX ``GridSample``); the results
    agree with the gather formulation to float rounding. Levels are accumulated one at a time so
    that no ``[N * M, C, Lq, L * P]`` tensor is ever built.

    Args: as ``ms_deform_attn_core``.

    Returns:
        ``[N, Lq, M * C]``.
    """
    n, _, m, c = value.shape
    lq, points = sampling_locations.shape[1], sampling_locations.shape[4]
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1] range
    out = value.new_zeros(n * m, c, lq)
    levels = value.split([h * w for h, w in spatial_shapes], dim=1)
    for lvl, (level, (h, w)) in enumerate(zip(levels, spatial_shapes)):
        image = level.permute(0, 2, 3, 1).reshape(n * m, c, h, w)
        grid = grids[:, :, :, lvl].transpose(1, 2).reshape(n * m, lq, points, 2)
        sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        weights = attention_weights[:, :, :, lvl].transpose(1, 2).reshape(n * m, 1, lq, points)
        out = out + (sampled * weights).sum(-1)  # [N * M, C, Lq]
    return out.view(n, m * c, lq).transpose(1, 2)


def ms_deform_attn_core(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Multi-scale deformable attention sampling (no projections).

    The computation runs in float32 for half-precision inputs (and with autocast disabled), as the
    official kernel does, and the result is returned in ``value``'s dtype. Under ``torch.export``
    (and so ONNX export) and off the CPU the per-level ``grid_sample`` formulation runs instead
    (the same numbers to float rounding).

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
    value, locations, weights = (t.to(compute) for t in (value, sampling_locations, attention_weights))
    if torch.compiler.is_exporting():
        # torch.export / ONNX: standard ops only (ONNX has no weighted embedding_bag).
        return _grid_sample_core(value, spatial_shapes, locations, weights).to(out_dtype)
    with torch.autocast(device_type=value.device.type, enabled=False):
        if value.device.type != "cpu":
            # The gather formulation is tuned for CPU; on the GPU grid_sample's kernels beat it ~2x
            # forward + backward (bench/README.md, GPU figures).
            return _grid_sample_core(value, spatial_shapes, locations, weights).to(out_dtype)
        table = _pad_levels(value, spatial_shapes)
        # One bag per (n, query, head): its L*P*4 corner rows, weighted and summed.
        # Plain ints for the Function (under the jit tracer of fvcore's FLOP count, sizes read from
        # tensors are 0-dim tensors, which a traced Function cannot take as a constant argument).
        shapes = tuple((int(h), int(w)) for h, w in spatial_shapes)
        out = _DeformableGather.apply(table.view(-1, c), locations, weights, shapes)
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
