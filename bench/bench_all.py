"""Runs every benchmark and prints one table of ratios ours / baseline.

The benchmarks run one after another in this process (their peak-memory rows in fresh
subprocesses), each with its default sizes, and with the options given here: ``--threads``,
``--runs``, ``--device cpu|cuda``, ``--amp`` (bf16 autocast on CPU, fp16 on CUDA, for both sides),
``--skip-memory``. ``--quick`` is a smoke run: tiny models (the same structure at width 32) on
tiny images, one run each, no inference-memory and no Table 5 rows; its figures mean nothing.
``bench_backbone.py`` and ``bench_postprocess.py`` (when present) print their own tables first (CPU).

Baselines, all measured in the same run: HF transformers' ``Mask2FormerForUniversalSegmentation``
with the same weights (inference, training step, peak memory), the ``grid_sample`` formulation
(deformable attention), 1 thread and fp32 (our settings study), point matching + point loss (Table
5 memory).

Usage: ``python bench/bench_all.py [--quick] [--threads 2] [--runs 3] [--device cpu] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from common import add_common_args, format_table, load_note, worker_args

BENCHMARKS = [
    "bench_m2f_inference",
    "bench_m2f_train_step",
    "bench_msdeform_attn",
    "bench_settings",
    "bench_point_loss_memory",
]
# Benchmarks that print their own figures (``main()`` reading the command line), run when their
# file exists: name -> the extra options of ``--quick``.
PRINTING = {"bench_backbone": ["--sizes", "64x64"], "bench_postprocess": ["--sizes", "64x64"]}


def run_printing(name: str, args: argparse.Namespace) -> None:
    """Runs a printing benchmark's ``main()`` with ``--threads``, ``--runs`` (and its quick sizes)."""
    module = importlib.import_module(name)
    argv = [f"{name}.py", "--threads", str(args.threads), "--runs", str(1 if args.quick else args.runs)]
    saved, sys.argv = sys.argv, argv + PRINTING[name] * args.quick
    try:
        module.main()
    finally:
        sys.argv = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS + list(PRINTING), help="run these only")
    add_common_args(parser)
    args = parser.parse_args()
    passed = [*worker_args(args), "--runs", str(1 if args.quick else args.runs)]
    passed += ["--skip-memory"] * args.skip_memory
    print(f"threads={args.threads} runs={args.runs} device={args.device} amp={args.amp}; {load_note()}")
    results = []
    for name in [n for n in BENCHMARKS if not args.only or n in args.only]:
        module = importlib.import_module(name)
        rows = module.run(module.parser().parse_args(passed))
        print(f"{name}: {len(rows)} rows; {load_note()}", flush=True)
        results += rows
    for name in PRINTING:
        if (Path(__file__).parent / f"{name}.py").exists() and (not args.only or name in args.only):
            if args.device == "cpu":  # their scripts time the CPU
                run_printing(name, args)
    print(format_table(results))


if __name__ == "__main__":
    main()
