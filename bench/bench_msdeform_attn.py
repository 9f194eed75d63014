"""Time the deformable-attention core against the straightforward grid_sample formulation.

The baseline is the official PyTorch fallback's formulation (one ``grid_sample`` per level with
heads folded into the batch, then stack, weight and sum). Both are timed forward, and forward +
backward, at the encoder sizes of the R50 Mask2Former pixel decoder (3 levels at strides 8/16/32,
8 heads of 32 channels, 4 points, every position a query).

Times are medians of wall and process CPU time (see README.md); ``--device cuda`` runs both on
the GPU (both compute in float32 whatever autocast says: ours by design, ``grid_sample`` by
autocast's own float32 list).

Usage: ``python bench/bench_msdeform_attn.py [--threads 2] [--runs 5] [--sizes 512x512 800x1088]``
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import Result, add_common_args, bench_main, median_time

from maskformer.layers.ms_deform_attn import ms_deform_attn_core

SIZES = ["512x512", "800x1088"]
QUICK_SIZES = ["128x128"]


def grid_sample_baseline(value, spatial_shapes, sampling_locations, attention_weights):
    """Official-style core: one grid_sample per level over all heads, then stack/weight/sum."""
    n, _, m, c = value.shape
    _, lq, _, levels, points, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1
    samples = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        v = per_level[lvl].flatten(2).transpose(1, 2).reshape(n * m, c, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [n*m, lq, points, 2]
        samples.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, levels * points)
    out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1).view(n, m * c, lq)
    return out.transpose(1, 2).contiguous()


def make_inputs(height, width, batch=1, heads=8, channels=32, points=4, requires_grad=False, device="cpu"):
    shapes = [(-(-height // s), -(-width // s)) for s in (32, 16, 8)]
    total = sum(h * w for h, w in shapes)
    value = torch.randn(batch, total, heads, channels)
    # As in the encoder: every position is a query whose reference point is its own pixel centre,
    # and the sampled points lie a few pixels of each level around it.
    centres = []
    for h, w in shapes:
        ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
        centres.append(torch.stack([xs.flatten(), ys.flatten()], -1))
    reference = torch.cat(centres)[None, :, None, None, None, :]
    level_size = torch.tensor([[w, h] for h, w in shapes], dtype=torch.float32)[:, None, :]
    locations = reference + 3 * torch.randn(batch, total, heads, 3, points, 2) / level_size
    weights = torch.rand(batch, total, heads, 3, points).softmax(-1)
    tensors = [t.to(device).requires_grad_(requires_grad) for t in (value, locations, weights)]
    return shapes, tensors


def bench(height: int, width: int, runs: int, device: str) -> list[Result]:
    """Forward and forward + backward rows of one size, ours against the grid_sample baseline."""
    times = {}
    shapes, (value, loc, weights) = make_inputs(height, width, device=device)
    for name, fn in (("ours", ms_deform_attn_core), ("baseline", grid_sample_baseline)):
        with torch.no_grad():
            fwd = median_time(lambda fn=fn: fn(value, shapes, loc, weights), runs, device=device)
        shapes_g, tensors = make_inputs(height, width, requires_grad=True, device=device)

        def step(fn=fn, tensors=tensors, shapes_g=shapes_g):
            fn(tensors[0], shapes_g, tensors[1], tensors[2]).sum().backward()

        times[name] = (fwd, median_time(step, runs, device=device))
    return [
        Result(
            f"deformable attention {height}x{width} {label}",
            "grid_sample",
            times["ours"][i],
            times["baseline"][i],
        )
        for i, label in enumerate(("forward", "forward+backward"))
    ]


def run(args: argparse.Namespace) -> list[Result]:
    """Rows of every size (``--quick``: one tiny size, one run)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    for size in args.sizes or (QUICK_SIZES if args.quick else SIZES):
        height, width = (int(x) for x in size.split("x"))
        results += bench(height, width, args.runs, args.device)
    return results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", help=f"HxW (default {SIZES}; --quick: {QUICK_SIZES})")
    add_common_args(p, runs=5)
    return p


def main() -> None:
    bench_main(parser(), run)


if __name__ == "__main__":
    main()
