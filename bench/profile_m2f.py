"""Where the time goes: torch.profiler per-operator tables of our Mask2Former on CPU.

Four profiles, each after one warm-up call, printed as the top ``--top`` (15) operators by self CPU
time:

1. inference ``model()`` (with semantic + panoptic + instance post-processing) at 512x512;
2. the same at 800x1088 (both: R50 COCO-panoptic config, random weights);
3. one training step on 2 x 512x512 with 3 instances each (forward, matcher, losses, backward);
4. ``--iterations`` (3) iterations of the README's main job (the shapes panoptic config, its data
   loader, optimizer, gradient clipping and metrics), as ``Trainer`` runs them; the loader runs
   in this process (``DATALOADER.NUM_WORKERS 0``) so that its mapping shows in the profile (the
   main job maps in worker processes, overlapped with the step).

Profiles 3 and 4 also print the time per phase: the training loop's ``record_function`` ranges
(``train:data``, ``train:forward``, ``train:backward``, ``train:clip_gradients``,
``train:metrics``, ``train:optimizer``) and, inside the forward, ``criterion:matcher`` and
``criterion:losses`` (matcher included), added here around the criterion. ``--quick`` profiles
the tiny model at 64x64 and one main-job iteration (a smoke run). Run it on a quiet machine.

Usage: ``python bench/profile_m2f.py [--threads 2] [--top 15] [--only inference train main_job]``
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

import torch
from bench_m2f_inference import make_image
from bench_m2f_train_step import make_batch, model_inputs
from common import REPO, build_pair, load_note
from torch.profiler import ProfilerActivity, profile, record_function

MAIN_JOB_CONFIG = REPO / "configs/shapes/panoptic-segmentation/maskformer2_R18_shapes.yaml"
PHASE_PREFIXES = ("train:", "criterion:")


def traced(name: str, fn: Callable) -> Callable:
    """``fn`` inside a ``record_function(name)`` range."""

    def wrapper(*args, **kwargs):
        with record_function(name):
            return fn(*args, **kwargs)

    return wrapper


def trace_criterion(model: torch.nn.Module) -> None:
    """Puts the criterion (``criterion:losses``) and its matcher (``criterion:matcher``) in ranges."""
    criterion = model.criterion
    criterion.matcher.forward = traced("criterion:matcher", criterion.matcher.forward)
    criterion.forward = traced("criterion:losses", criterion.forward)


def profile_calls(fn: Callable[[], object], calls: int = 1) -> profile:
    """Profiles ``calls`` calls of ``fn`` after one warm-up call (CPU activities)."""
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    return prof


def print_profile(title: str, prof: profile, top: int, phases: bool = False) -> None:
    """The top operators by self CPU time, then (``phases``) the CPU time of each phase range."""
    averages = prof.key_averages()
    print(f"\n=== {title} ===")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=top))
    if phases:
        print("phase | calls | CPU total (ms)")
        for event in sorted(averages, key=lambda e: -e.cpu_time_total):
            if event.key.startswith(PHASE_PREFIXES):
                print(f"{event.key} | {event.count} | {event.cpu_time_total / 1e3:.1f}")


def profile_inference(ours, sizes: list[str], top: int) -> None:
    ours.eval()
    for size in sizes:
        height, width = (int(v) for v in size.split("x"))
        image = make_image(height, width)
        inputs = [{"image": image[0], "height": height, "width": width}]
        with torch.no_grad():
            prof = profile_calls(lambda inputs=inputs: ours(inputs))
        print_profile(f"inference model() incl. post-processing, {size}", prof, top)


def profile_train_step(ours, size: str, top: int) -> None:
    height, width = (int(v) for v in size.split("x"))
    inputs = model_inputs(*make_batch(2, height, width, 3))
    ours.train()
    trace_criterion(ours)

    def step():
        ours.zero_grad(set_to_none=True)
        with record_function("train:forward"):
            losses = sum(ours(inputs).values())
        with record_function("train:backward"):
            losses.backward()

    print_profile(f"training step, 2 x {size}, 3 instances each", profile_calls(step), top, phases=True)


def profile_main_job(iterations: int, top: int) -> None:
    """Iterations of the README's main job through ``Trainer``'s own step (hooks not run)."""
    from maskformer.config import load_config
    from maskformer.data.datasets.builtin import register_datasets
    from maskformer.engine import Trainer
    from maskformer.utils.events import EventStorage

    with tempfile.TemporaryDirectory() as out:
        opts = ["OUTPUT_DIR", out, "DATALOADER.NUM_WORKERS", "0"]
        cfg = load_config(str(MAIN_JOB_CONFIG), opts)
        register_datasets(cfg)
        trainer = Trainer(cfg)
        step = trainer._trainer
        step.data_loader = Trainer.build_train_loader(cfg)
        trace_criterion(step.model)
        with EventStorage(0):
            prof = profile_calls(step.run_step, iterations)
    print_profile(f"main job: {iterations} iterations of {MAIN_JOB_CONFIG.name}", prof, top, phases=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15, help="operators per table")
    parser.add_argument("--iterations", type=int, default=3, help="main-job iterations profiled")
    parser.add_argument("--only", nargs="+", choices=["inference", "train", "main_job"])
    parser.add_argument("--quick", action="store_true", help="tiny model, 64x64, one iteration")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    only = args.only or ["inference", "train", "main_job"]
    print(f"threads={args.threads}; {load_note()}")
    if "inference" in only or "train" in only:
        _, ours = build_pair(tiny=args.quick)
        if "inference" in only:
            profile_inference(ours, ["64x64"] if args.quick else ["512x512", "800x1088"], args.top)
        if "train" in only:
            profile_train_step(ours, "64x64" if args.quick else "512x512", args.top)
    if "main_job" in only:
        profile_main_job(1 if args.quick else args.iterations, args.top)
    print(f"done; {load_note()}")


if __name__ == "__main__":
    main()
