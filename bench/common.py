"""Shared helpers of the Mask2Former benchmarks: the model pair, timing and peak memory.

The pair is HF transformers' ``Mask2FormerForUniversalSegmentation`` (R50, COCO panoptic shape:
133 classes, 100 queries, 6 encoder and 10 decoder layers) with random weights, and our model built
from ``configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml`` carrying the same
weights through ``maskformer.checkpoint.hf``. Nothing is downloaded.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml"
PIXEL_MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
PIXEL_STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def hf_r50_coco_panoptic():
    """HF's Mask2Former with the official R50 COCO panoptic hyper-parameters (random weights)."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=64,
        hidden_sizes=[256, 512, 1024, 2048],
        depths=[3, 4, 6, 3],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = Mask2FormerConfig(
        backbone_config=backbone,
        num_labels=133,
        num_queries=100,
        feature_size=256,
        mask_feature_size=256,
        hidden_dim=256,
        encoder_feedforward_dim=1024,
        encoder_layers=6,
        decoder_layers=10,
        num_attention_heads=8,
        dim_feedforward=2048,
        train_num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        class_weight=2.0,
        mask_weight=5.0,
        dice_weight=5.0,
        no_object_weight=0.1,
        use_auxiliary_loss=True,
    )
    return Mask2FormerForUniversalSegmentation(config)


def build_pair(seed: int = 0):
    """(HF model, our model), both in eval mode, with the same weights."""
    import maskformer.modeling.pixel_decoder.msdeformattn  # noqa: F401  (registration)
    import maskformer.modeling.transformer_decoder.masked_attention  # noqa: F401
    from maskformer.checkpoint.hf import convert_hf_mask2former_state_dict
    from maskformer.config import get_cfg
    from maskformer.modeling import build_model

    torch.manual_seed(seed)
    hf = hf_r50_coco_panoptic().eval()
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    ours = build_model(cfg, thing_ids=list(range(80))).eval()
    missing, unexpected = ours.load_state_dict(
        convert_hf_mask2former_state_dict(hf.state_dict()), strict=True
    )
    assert not missing and not unexpected
    return hf, ours


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[B, 3, H, W]`` -> the normalised float input both models see."""
    return (images.float() - PIXEL_MEAN) / PIXEL_STD


def median_time(fn: Callable[[], object], runs: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall time and median process CPU time (s) of ``runs`` calls after ``warmup`` calls.

    On a shared machine the wall time depends on the other tenants; the CPU time (summed over
    this process's threads) measures the work done and is the steadier figure.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def format_pair(label: str, ours: tuple[float, float], hf: tuple[float, float]) -> str:
    """One result line: wall and CPU medians of both and their ratios."""
    return (
        f"{label:28s} wall: ours {ours[0]:7.3f} s  HF {hf[0]:7.3f} s  ratio {ours[0] / hf[0]:.2f} | "
        f"CPU: ours {ours[1]:7.3f} s  HF {hf[1]:7.3f} s  ratio {ours[1] / hf[1]:.2f}"
    )


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


def run_isolated(script: str, args: list[str]) -> dict:
    """Runs ``script --worker ...`` in a fresh process and returns the JSON it prints last.

    Peak RSS only grows within a process, so each implementation's peak is measured alone.
    """
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=True, cwd=str(REPO)
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])
