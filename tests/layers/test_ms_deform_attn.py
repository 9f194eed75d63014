"""Multi-scale deformable attention against slow, obviously-correct references."""

import math

import pytest
import torch
import torch.nn.functional as F

from maskformer.layers.ms_deform_attn import MSDeformAttn, _grid_sample_core, ms_deform_attn_core


def _bilinear_zero_pad(level: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Sample ``level`` [H, W, C] at normalised (x, y) with align_corners=False and zero padding."""
    h, w, c = level.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = level.new_zeros(c)
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= xx < w and 0 <= yy < h:
                weight = (1 - abs(px - xx)) * (1 - abs(py - yy))
                out = out + weight * level[yy, xx]
    return out


def _loop_reference(value, shapes, locations, weights):
    """Explicit loops over batch, queries, heads, levels and points."""
    n, _, m, c = value.shape
    lq = locations.shape[1]
    out = value.new_zeros(n, lq, m, c)
    for b in range(n):
        for q in range(lq):
            for head in range(m):
                start = 0
                for lvl, (h, w) in enumerate(shapes):
                    level = value[b, start : start + h * w, head].view(h, w, c)
                    for p in range(locations.shape[4]):
                        x, y = locations[b, q, head, lvl, p].tolist()
                        out[b, q, head] += weights[b, q, head, lvl, p] * _bilinear_zero_pad(level, x, y)
                    start += h * w
    return out.view(n, lq, m * c)


def _grid_sample_reference(value, shapes, locations, weights):
    """The straightforward per-level, per-head grid_sample formulation."""
    n, _, m, c = value.shape
    lq, levels, points = locations.shape[1], locations.shape[3], locations.shape[4]
    out = value.new_zeros(n, m, c, lq)
    start = 0
    for lvl, (h, w) in enumerate(shapes):
        for head in range(m):
            level = value[:, start : start + h * w, head].transpose(1, 2).reshape(n, c, h, w)
            grid = 2 * locations[:, :, head, lvl] - 1  # [n, lq, points, 2]
            sampled = F.grid_sample(level, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            out[:, head] += (sampled * weights[:, None, :, head, lvl]).sum(-1)
        start += h * w
    assert levels == len(shapes) and points == locations.shape[4]
    return out.permute(0, 3, 1, 2).reshape(n, lq, m * c)


def _random_inputs(n, shapes, lq, m, c, p, dtype=torch.float32, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in shapes)
    value = torch.randn(n, s, m, c, generator=g, dtype=dtype)
    # Locations beyond [0, 1] exercise the zero padding.
    locations = (
        torch.rand(n, lq, m, len(shapes), p, 2, generator=g, dtype=dtype) * (1 + 2 * spread)
    ) - spread
    weights = torch.rand(n, lq, m, len(shapes), p, generator=g, dtype=dtype)
    return value, locations, weights


@pytest.mark.parametrize(
    "n,shapes,lq,m,c,p",
    [
        (1, [(3, 4)], 5, 1, 2, 1),
        (2, [(4, 6), (2, 3)], 7, 2, 3, 2),
        (1, [(5, 3), (3, 2), (1, 1)], 6, 3, 4, 3),
    ],
)
def test_core_equals_explicit_loops(n, shapes, lq, m, c, p):
    value, locations, weights = _random_inputs(n, shapes, lq, m, c, p, dtype=torch.float64)
    expected = _loop_reference(value, shapes, locations, weights)
    got = ms_deform_attn_core(value, shapes, locations, weights)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shapes", [[(16, 20), (8, 10), (4, 5)], [(13, 7), (7, 4), (4, 2), (2, 1)]])
def test_core_equals_grid_sample_on_larger_shapes(shapes):
    value, locations, weights = _random_inputs(2, shapes, 50, 4, 8, 4, spread=0.5, seed=1)
    expected = _grid_sample_reference(value, shapes, locations, weights)
    got = ms_deform_attn_core(value, shapes, locations, weights)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_exact_pixel_centres_and_far_outside_points():
    # A 2x3 level with values 0..5: pixel (i, j) centre sits at ((j + 0.5) / 3, (i + 0.5) / 2).
    value = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1)
    locs = torch.tensor([[0.5 / 3, 0.25], [2.5 / 3, 0.75], [1.0 / 3, 0.25], [5.0, 5.0], [-3.0, 0.5]])
    locations = locs.view(1, 5, 1, 1, 1, 2)
    weights = torch.ones(1, 5, 1, 1, 1)
    got = ms_deform_attn_core(value, [(2, 3)], locations, weights).flatten()
    torch.testing.assert_close(got, torch.tensor([0.0, 5.0, 0.5, 0.0, 0.0]))


def test_gradcheck_float64():
    shapes = [(3, 4), (2, 2)]
    value, locations, weights = _random_inputs(1, shapes, 3, 2, 2, 2, dtype=torch.float64, seed=3)
    inputs = (value.requires_grad_(), locations.requires_grad_(), weights.requires_grad_())
    assert torch.autograd.gradcheck(lambda v, loc, w: ms_deform_attn_core(v, shapes, loc, w), inputs)


def _grid_positions(h: int, w: int) -> torch.Tensor:
    """Every (x, y) on the integer and half-integer pixel lattice from 2.5 pixels before the level
    to 2 pixels after it, as normalised locations ``[K, 2]`` (exact in float64 for powers of 2)."""
    xs = torch.arange(-5, 2 * w + 5, dtype=torch.float64) / 2
    ys = torch.arange(-5, 2 * h + 5, dtype=torch.float64) / 2
    px, py = torch.meshgrid(xs, ys, indexing="xy")
    return torch.stack([(px.flatten() + 0.5) / w, (py.flatten() + 0.5) / h], dim=-1)


def test_gradients_equal_grid_sample_on_pixel_lattice_and_borders():
    # Integer pixel positions are where the bilinear interpolation has a kink: grid_sample's
    # gradient there is the one of the cell [floor, floor + 1] (also at -1, one pixel outside,
    # and at W, where both corners are zero). Sizes are powers of 2 so every position is exact.
    shapes = [(4, 8), (2, 4)]
    grids = [_grid_positions(h, w) for h, w in shapes]
    lq = max(len(g) for g in grids)
    per_level = [g[torch.arange(lq) % len(g)] for g in grids]  # [lq, 2] per level
    heads = torch.stack([torch.stack(per_level, 1), torch.stack(per_level, 1).flip(0)], 1)  # [lq, 2, L, 2]
    locations = heads[None, :, :, :, None, :].clone()  # [1, lq, M=2, L, P=1, 2]
    g = torch.Generator().manual_seed(7)
    value = torch.randn(1, sum(h * w for h, w in shapes), 2, 3, generator=g, dtype=torch.float64)
    weights = torch.rand(1, lq, 2, len(shapes), 1, generator=g, dtype=torch.float64)
    grad_out = torch.randn(1, lq, 2 * 3, generator=g, dtype=torch.float64)

    def grads(fn):
        inputs = [t.clone().requires_grad_() for t in (value, locations, weights)]
        out = fn(inputs[0], shapes, inputs[1], inputs[2])
        out.backward(grad_out)
        return [out.detach()] + [t.grad for t in inputs]

    got = grads(ms_deform_attn_core)
    expected = grads(_grid_sample_reference)
    for name, a, b in zip(["output", "value", "locations", "weights"], got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")
    # The lattice does reach the cases of interest: one pixel outside on each side has a gradient.
    pix_x = locations[0, :, 0, 0, 0, 0] * 8 - 0.5
    assert got[2][0, pix_x == -1, 0, 0, 0, 0].abs().sum() > 0


def _module_reference(module, query, reference_points, flat, shapes, padding_mask):
    n, lq, _ = query.shape
    m, levels, points = module.n_heads, module.n_levels, module.n_points
    value = module.value_proj(flat).masked_fill(padding_mask[..., None], 0.0).view(n, flat.shape[1], m, -1)
    offsets = module.sampling_offsets(query).view(n, lq, m, levels, points, 2)
    weights = module.attention_weights(query).view(n, lq, m, levels * points).softmax(-1)
    normalizer = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype)
    locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
    out = _loop_reference(value, shapes, locations, weights.view(n, lq, m, levels, points))
    return module.output_proj(out)


def test_module_with_padding_mask_matches_reference():
    torch.manual_seed(0)
    shapes = [(4, 5), (2, 3)]
    module = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=2).double()
    for param in module.parameters():
        torch.nn.init.normal_(param, std=0.3)
    s = sum(h * w for h, w in shapes)
    query = torch.randn(2, 4, 8, dtype=torch.float64)
    flat = torch.randn(2, s, 8, dtype=torch.float64)
    reference_points = torch.rand(2, 4, 2, 2, dtype=torch.float64)
    padding_mask = torch.zeros(2, s, dtype=torch.bool)
    padding_mask[1, 3:5] = True  # last column of the first level's first row padded
    padding_mask[1, 20 + 2] = True
    got = module(query, reference_points, flat, shapes, padding_mask)
    expected = _module_reference(module, query, reference_points, flat, shapes, padding_mask)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_module_parameter_names_and_init():
    module = MSDeformAttn(d_model=256, n_levels=3, n_heads=8, n_points=4)
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert shapes == {
        "sampling_offsets.weight": (192, 256),
        "sampling_offsets.bias": (192,),
        "attention_weights.weight": (96, 256),
        "attention_weights.bias": (96,),
        "value_proj.weight": (256, 256),
        "value_proj.bias": (256,),
        "output_proj.weight": (256, 256),
        "output_proj.bias": (256,),
    }
    bias = module.sampling_offsets.bias.view(8, 3, 4, 2)
    # Head 0 points right, head 2 down; point i sits at distance i + 1; the same for every level.
    torch.testing.assert_close(bias[0, 1, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(bias[2, 2, :, 1], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert torch.all(module.attention_weights.weight == 0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(d_model=10, n_heads=3)
    value, locations, weights = _random_inputs(1, [(2, 2)], 2, 1, 2, 1)
    with pytest.raises(ValueError, match="spatial_shapes"):
        ms_deform_attn_core(value, [(3, 2)], locations, weights)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_computed_in_float32(dtype):
    shapes = [(6, 5), (3, 3)]
    value, locations, weights = _random_inputs(1, shapes, 9, 2, 4, 2, seed=5)
    expected = ms_deform_attn_core(
        value.to(dtype).float(), shapes, locations.to(dtype).float(), weights.to(dtype).float()
    )
    got = ms_deform_attn_core(value.to(dtype), shapes, locations.to(dtype), weights.to(dtype))
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), expected.to(dtype).float())


def test_autocast_bf16_module_runs_and_backpropagates():
    torch.manual_seed(0)
    module = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2)
    shapes = [(4, 4), (2, 2)]
    query = torch.randn(1, 20, 16, requires_grad=True)
    reference_points = torch.rand(1, 20, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(query, reference_points, query, shapes)
    out.float().sum().backward()
    assert torch.isfinite(query.grad).all()
    assert module.sampling_offsets.weight.grad is not None


def test_grid_sample_export_path_equals_gather_path():
    shapes = [(6, 5), (3, 3), (1, 2)]
    value, locations, weights = _random_inputs(2, shapes, 11, 3, 4, 2, torch.float64, spread=0.4, seed=9)
    expected = ms_deform_attn_core(value, shapes, locations, weights)
    got = _grid_sample_core(value, shapes, locations, weights)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_torch_export_traces_grid_sample_with_dynamic_sizes():
    class Wrapper(torch.nn.Module):
        """Level sizes taken from input shapes, as the pixel decoder does."""

        def __init__(self):
            super().__init__()
            self.attn = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=2)

        def forward(self, fine, coarse, query, reference_points):
            shapes = [tuple(fine.shape[1:3]), tuple(coarse.shape[1:3])]
            flat = torch.cat([fine.flatten(1, 2), coarse.flatten(1, 2)], dim=1)
            return self.attn(query, reference_points, flat, shapes)

    torch.manual_seed(0)
    module = Wrapper().eval()
    fine, coarse = torch.randn(1, 6, 8, 8), torch.randn(1, 3, 4, 8)
    query, reference_points = torch.randn(1, 5, 8), torch.rand(1, 5, 2, 2)
    h, w = torch.export.Dim("h", min=2, max=32), torch.export.Dim("w", min=2, max=32)
    program = torch.export.export(
        module,
        (fine, coarse, query, reference_points),
        dynamic_shapes=({1: 2 * h, 2: 2 * w}, {1: h, 2: w}, None, None),
    )
    targets = {str(node.target) for node in program.graph.nodes}
    assert any("grid_sampler" in t for t in targets) and not any("embedding_bag" in t for t in targets)
    fine, coarse = torch.randn(1, 10, 4, 8), torch.randn(1, 5, 2, 8)
    with torch.no_grad():
        expected = module(fine, coarse, query, reference_points)
        got = program.module()(fine, coarse, query, reference_points)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_gradients_equal_grid_sample_with_batch_heads_and_three_levels():
    # The value gradient sorts only the top-left corners of every location and reuses that order
    # for the other three corners: a batch of 2, 3 levels and 2 heads exercise every block of the
    # value table, and the wide spread puts corners in the zero borders.
    shapes = [(5, 7), (3, 4), (2, 2)]
    value, locations, weights = _random_inputs(
        2, shapes, 9, 2, 3, 3, dtype=torch.float64, spread=0.8, seed=11
    )
    grad_out = torch.randn(2, 9, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(12))

    def grads(fn):
        inputs = [t.clone().requires_grad_() for t in (value, locations, weights)]
        fn(inputs[0], shapes, inputs[1], inputs[2]).backward(grad_out)
        return [t.grad for t in inputs]

    for a, b in zip(grads(ms_deform_attn_core), grads(_grid_sample_reference)):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
