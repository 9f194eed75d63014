"""Time our ResNet-50 backbone against torchvision's ``resnet50`` with the same weights.

Both run in eval mode under ``no_grad`` with frozen batch norms (ours: ``FrozenBatchNorm2d`` folded
into the convolutions; torchvision: ``BatchNorm2d`` on running statistics) and return the same
res2..res5 maps (max |diff| printed). Each size is timed in both memory formats: torchvision's model
and input converted, ours with ``ResNet.channels_last`` set (it converts its input and returns
contiguous maps) or not (its default). The implementations alternate within every
repetition, so a change of machine load hits both; lines print medians and the ratio ours /
torchvision. The machine's fp32 matmul GFLOP/s (``scripts/machine_gflops.py``) is printed first.

Usage: ``python bench/bench_backbone.py [--threads 2] [--runs 5] [--sizes 512x512 800x1088]``
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics

import torch
from common import load_note, machine_gflops, median_time

from maskformer.checkpoint.convert import align_state_dict_with_report
from maskformer.config import get_cfg
from maskformer.modeling.backbone import build_backbone
from maskformer.modeling.backbone import resnet as _resnet  # noqa: F401  (registers the builders)

FORMATS = {"contiguous": torch.contiguous_format, "channels-last": torch.channels_last}


def build_resnet50_pair():
    """(ours, torchvision): R50 with torchvision's random weights and non-trivial BN statistics."""
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None).eval()
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.1, 0.3)
            m.bias.data.normal_(0, 0.1)
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.NORM = "FrozenBN"
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False  # torchvision's layout, as the official R50 configs
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    ours = build_backbone(cfg).eval()
    aligned, report = align_state_dict_with_report(tv.state_dict(), ours)
    if not report.is_complete:
        raise RuntimeError(report.format())
    ours.load_state_dict(aligned, strict=False)
    return ours, tv


def torchvision_features(model) -> torch.nn.Module:
    """torchvision's ResNet returning res2..res5 (its layer1..layer4 outputs) as a dict."""
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(model, {f"layer{i}": f"res{i + 1}" for i in range(1, 5)})


def alternating_medians(fns: dict[str, object], runs: int) -> dict[str, float]:
    """Median wall time of each function, the functions called in turn within every repetition."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            times[name].append(median_time(fn, runs=1, warmup=0)[0])
    return {name: statistics.median(t) for name, t in times.items()}


def bench_size(ours, tv, height: int, width: int, runs: int) -> None:
    """Prints max |diff| and median times of both models in both memory formats at one size."""
    x = torch.randn(1, 3, height, width)
    fns = {}
    for fmt_name, fmt in FORMATS.items():
        xf = x.contiguous(memory_format=fmt)
        calls = {
            "ours": copy.deepcopy(ours),
            "torchvision": torchvision_features(copy.deepcopy(tv).to(memory_format=fmt)),
        }
        calls["ours"].channels_last = fmt == torch.channels_last  # ours converts by itself
        with torch.no_grad():
            outputs = {name: call(xf) for name, call in calls.items()}
        ours_out, tv_out = outputs["ours"], outputs["torchvision"]
        diff = max((ours_out[k] - tv_out[k]).abs().max().item() for k in ours_out)
        print(f"{height}x{width} {fmt_name}: max |ours - torchvision| {diff:.2e}")
        for name, call in calls.items():
            fns[f"{name} {fmt_name}"] = torch.no_grad()(functools.partial(call, xf))
    medians = alternating_medians(fns, runs)
    for fmt_name in FORMATS:
        a, b = medians[f"ours {fmt_name}"], medians[f"torchvision {fmt_name}"]
        print(
            f"{height}x{width} {fmt_name:13s} ours {a:7.3f} s  torchvision {b:7.3f} s  "
            f"ratio ours/torchvision {a / b:.2f}"
        )
    for name in ("ours", "torchvision"):
        ratio = medians[f"{name} channels-last"] / medians[f"{name} contiguous"]
        print(f"{height}x{width} {name}: channels-last / contiguous {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "800x1088"])
    args = parser.parse_args()
    print(f"fp32 matmul 4096^2 on {args.threads} thread(s): {machine_gflops(args.threads):.0f} GFLOP/s")
    torch.set_num_threads(args.threads)
    print(load_note())
    ours, tv = build_resnet50_pair()
    for size in args.sizes:
        height, width = (int(v) for v in size.split("x"))
        bench_size(ours, tv, height, width, args.runs)
    print(load_note())


if __name__ == "__main__":
    main()
