"""Shared helpers of the Mask2Former benchmarks: the model pair, timing and peak memory.

The pair is HF transformers' ``Mask2FormerForUniversalSegmentation`` (R50, COCO panoptic shape:
133 classes, 100 queries, 6 encoder and 10 decoder layers) with random weights, and our model built
from ``configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml`` carrying the same
weights through ``maskformer.checkpoint.hf``. Nothing is downloaded. ``tiny=True`` builds the
same structure at width 32 (2 encoder and 4 decoder layers, 6 queries, 64 points) for smoke runs
(``bench_all.py --quick``).

Every benchmark's ``run(args) -> list[Result]`` returns its rows; ``format_table`` prints the
rows of one or several benchmarks as one table of ratios ours / baseline.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml"
PIXEL_MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
PIXEL_STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def machine_gflops(threads: int) -> float:
    """fp32 matmul GFLOP/s of ``scripts/machine_gflops.py`` (4096^2, best of 3)."""
    spec = importlib.util.spec_from_file_location("machine_gflops", REPO / "scripts/machine_gflops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.gflops(4096, 3, threads)


# Width and depth of the tiny pair (the HF config keys, then ours).
TINY_HF = {
    "feature_size": 32,
    "mask_feature_size": 32,
    "hidden_dim": 32,
    "encoder_feedforward_dim": 1024,  # fixed in the official pixel decoder
    "encoder_layers": 2,
    "decoder_layers": 4,
    "num_attention_heads": 4,
    "dim_feedforward": 64,
    "num_queries": 6,
    "train_num_points": 64,
}
TINY_OPTS = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "16",
    "MODEL.RESNETS.RES2_OUT_CHANNELS", "32",
    "MODEL.RESNETS.WIDTH_PER_GROUP", "8",
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", "32",
    "MODEL.SEM_SEG_HEAD.MASK_DIM", "32",
    "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "2",
    "MODEL.MASK_FORMER.HIDDEN_DIM", "32",
    "MODEL.MASK_FORMER.NHEADS", "4",
    "MODEL.MASK_FORMER.DIM_FEEDFORWARD", "64",
    "MODEL.MASK_FORMER.DEC_LAYERS", "4",
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "6",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "64",
]  # fmt: skip


def hf_r50_coco_panoptic(tiny: bool = False):
    """HF's Mask2Former with the official R50 COCO panoptic hyper-parameters (random weights).

    The encoder's feed-forward width is 1024 as in the official config; ``tiny`` shrinks every
    width (ResNet-50 depth kept) to the values of ``TINY_HF``.
    """
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=16 if tiny else 64,
        hidden_sizes=[32, 64, 128, 256] if tiny else [256, 512, 1024, 2048],
        depths=[3, 4, 6, 3],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    sizes = {
        "feature_size": 256,
        "mask_feature_size": 256,
        "hidden_dim": 256,
        "encoder_feedforward_dim": 1024,
        "encoder_layers": 6,
        "decoder_layers": 10,
        "num_attention_heads": 8,
        "dim_feedforward": 2048,
        "num_queries": 100,
        "train_num_points": 12544,
    }
    config = Mask2FormerConfig(
        backbone_config=backbone,
        num_labels=133,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        class_weight=2.0,
        mask_weight=5.0,
        dice_weight=5.0,
        no_object_weight=0.1,
        use_auxiliary_loss=True,
        **(TINY_HF if tiny else sizes),
    )
    return Mask2FormerForUniversalSegmentation(config)


def coco_panoptic_thing_ids() -> list[int]:
    """Contiguous thing ids of COCO panoptic (the 80 things), from the package's category table."""
    from maskformer.data import metadata_thing_ids
    from maskformer.data.datasets.metadata import load_categories, panoptic_metadata

    return metadata_thing_ids(panoptic_metadata(load_categories("coco_panoptic")))


def build_pair(seed: int = 0, tiny: bool = False, device: str = "cpu"):
    """(HF model, our model), both in eval mode on ``device``, with the same weights."""
    import maskformer.modeling.pixel_decoder.msdeformattn  # noqa: F401  (registration)
    import maskformer.modeling.transformer_decoder.masked_attention  # noqa: F401
    from maskformer.checkpoint.hf import convert_hf_mask2former_state_dict
    from maskformer.config import load_config
    from maskformer.modeling import build_model

    torch.manual_seed(seed)
    hf = hf_r50_coco_panoptic(tiny).eval()
    cfg = load_config(str(CONFIG), ["MODEL.DEVICE", device, *(TINY_OPTS if tiny else [])], freeze=False)
    ours = build_model(cfg, thing_ids=coco_panoptic_thing_ids()).eval()
    missing, unexpected = ours.load_state_dict(
        convert_hf_mask2former_state_dict(hf.state_dict()), strict=True
    )
    assert not missing and not unexpected
    return hf.to(device), ours


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[B, 3, H, W]`` -> the normalised float input both models see."""
    return (images.float() - PIXEL_MEAN.to(images.device)) / PIXEL_STD.to(images.device)


def synchronize(device: str) -> None:
    """Waits for queued CUDA work (a no-op on CPU), so that wall times cover the computation."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_time(
    fn: Callable[[], object], runs: int, warmup: int = 1, device: str = "cpu"
) -> tuple[float, float]:
    """Median wall time and median process CPU time (s) of ``runs`` calls after ``warmup`` calls.

    On a shared machine the wall time depends on the other tenants; the CPU time (summed over
    this process's threads) measures the work done and is the steadier figure. On CUDA each call
    is synchronised and the CPU time only measures the host side.
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


@dataclass
class Result:
    """One row of the ratio table: ours against a named baseline, measured in the same run.

    ``ours`` and ``baseline`` are (wall s, CPU s) medians for times, (MB,) for memory.
    """

    name: str
    baseline_name: str
    ours: tuple[float, ...]
    baseline: tuple[float, ...]
    unit: str = "s"

    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.ours, self.baseline)]


def format_table(results: Sequence[Result]) -> str:
    """A Markdown table of results: figures of both and the ratios ours / baseline (wall, CPU)."""
    lines = [
        "| benchmark | baseline | ours | baseline | ratio (wall or MB) | ratio (CPU) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratios = [f"{x:.2f}" for x in r.ratios()] + ["-"]
        figure = "{:.3f} s" if r.unit == "s" else "{:.0f} MB"
        lines.append(
            f"| {r.name} | {r.baseline_name} | {figure.format(r.ours[0])} | {figure.format(r.baseline[0])} "
            f"| {ratios[0]} | {ratios[1]} |"
        )
    return "\n".join(lines)


def add_common_args(parser: argparse.ArgumentParser, runs: int = 3) -> None:
    """``--threads --runs --device --quick --skip-memory``, the options every benchmark takes."""
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (CPU)")
    parser.add_argument("--runs", type=int, default=runs, help="timed repetitions (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (fp16 on CUDA) for both")
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes, one run: a smoke run")
    parser.add_argument("--skip-memory", action="store_true", help="no isolated peak-memory runs")


def autocast(args: argparse.Namespace):
    """The autocast context of ``--amp`` (bf16 on CPU, fp16 on CUDA), or a disabled one."""
    device_type = torch.device(args.device).type
    dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device_type, dtype=dtype, enabled=args.amp)


def measure_peak_mb(fn: Callable[[], object], device: str) -> float:
    """Growth of the peak memory during ``fn()``: allocated CUDA memory, else the RSS (VmHWM)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    reset_peak_rss()
    before = current_rss_mb()
    fn()
    return peak_rss_mb() - before


def bench_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], list[Result]],
    worker: Callable[[argparse.Namespace], None] | None = None,
) -> None:
    """A benchmark script's ``main``: a ``--worker`` run if asked, else the settings, table and load."""
    args = parser.parse_args()
    if worker is not None and args.worker:
        worker(args)
        return
    print(f"threads={args.threads} runs={args.runs} device={args.device} amp={args.amp}; {load_note()}")
    print(format_table(run(args)))
    print(f"done; {load_note()}")


def worker_args(args: argparse.Namespace) -> list[str]:
    """The common options again, for a ``--worker`` subprocess."""
    out = ["--threads", str(args.threads), "--device", args.device]
    return out + ["--amp"] * args.amp + ["--quick"] * args.quick


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> None:
    """Restarts the peak-RSS record (Linux: writing 5 to clear_refs resets VmHWM)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb() -> float:
    """Peak resident set size since the last :func:`reset_peak_rss` (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_note() -> str:
    """The 1/5/15-minute load averages, to read timings on a shared machine."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def side_by_side(args: argparse.Namespace) -> bool:
    """Whether the isolated peak-memory processes may run at once.

    On CUDA each process's peak is its own allocator's record, which processes running side by
    side do not disturb (and the GPU holds them all); ``--quick`` models are tiny. On CPU the
    full-size processes run one after another, so that their peaks fit in memory together.
    """
    return args.quick or torch.device(args.device).type == "cuda"


def isolated_peaks(
    script: str, runs: Mapping[Hashable, list[str]], parallel: bool = False
) -> dict[Hashable, float]:
    """Runs ``script ARGS`` for every entry of ``runs``, each in a fresh process.

    Peak memory only grows within a process, so each implementation's peak is measured alone.
    ``parallel`` starts all processes at once (see :func:`side_by_side`). Each worker prints a JSON line
    ``{"peak_growth_mb": ...}`` last.

    Returns:
        The ``peak_growth_mb`` of each key.
    """

    def start(args: list[str]) -> subprocess.Popen:
        command = [sys.executable, script, *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)

    started = {key: start(args) for key, args in runs.items()} if parallel else {}
    peaks = {}
    for key, args in runs.items():
        proc = started.get(key) or start(args)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{script} {' '.join(args)} failed:\n{err[-3000:]}")
        peaks[key] = json.loads(out.strip().splitlines()[-1])["peak_growth_mb"]
    return peaks
