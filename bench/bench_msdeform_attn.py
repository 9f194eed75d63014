"""Time the deformable-attention core against the straightforward grid_sample formulation.

The baseline is the official PyTorch fallback's formulation (one ``grid_sample`` per level with
heads folded into the batch, then stack, weight and sum). Both are timed forward, and forward +
backward, at the encoder sizes of the R50 Mask2Former pixel decoder (3 levels at strides 8/16/32,
8 heads of 32 channels, 4 points, every position a query).

Times are medians of wall and process CPU time (see README.md).

Usage: ``python bench/bench_msdeform_attn.py [--threads 2] [--runs 5] [--sizes 512x512 800x1088]``
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import median_time

from maskformer.layers.ms_deform_attn import ms_deform_attn_core


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


def make_inputs(height, width, batch=1, heads=8, channels=32, points=4, requires_grad=False):
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
    tensors = [t.requires_grad_(requires_grad) for t in (value, locations, weights)]
    return shapes, tensors


def bench(height, width, runs):
    shapes, (value, loc, weights) = make_inputs(height, width)
    for name, fn in (
        ("ours (embedding_bag)", ms_deform_attn_core),
        ("grid_sample baseline", grid_sample_baseline),
    ):
        with torch.no_grad():
            fwd = median_time(lambda fn=fn: fn(value, shapes, loc, weights), runs)
        shapes_g, tensors = make_inputs(height, width, requires_grad=True)

        def step(fn=fn, tensors=tensors, shapes_g=shapes_g):
            fn(tensors[0], shapes_g, tensors[1], tensors[2]).sum().backward()

        fwd_bwd = median_time(step, runs)
        print(
            f"{height}x{width} {name:22s} forward wall {fwd[0] * 1e3:7.1f} ms CPU {fwd[1] * 1e3:7.1f} ms | "
            f"forward+backward wall {fwd_bwd[0] * 1e3:7.1f} ms CPU {fwd_bwd[1] * 1e3:7.1f} ms"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1088"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for size in args.sizes:
        height, width = (int(x) for x in size.split("x"))
        bench(height, width, args.runs)


if __name__ == "__main__":
    main()
