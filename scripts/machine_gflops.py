#!/usr/bin/env python
"""Prints the fp32 matmul throughput of this machine (4096x4096 @ 4096x4096), on 1 and 2 threads.

Speed figures in the README and bench/README.md name the machine they were measured on by this
number: machines of the same kind differ up to 2x. Run it on a quiet machine.

    python scripts/machine_gflops.py [--size 4096] [--runs 5]
"""

from __future__ import annotations

import argparse
import time

import torch


def gflops(size: int, runs: int, threads: int) -> float:
    """Best-of-``runs`` GFLOP/s of one ``size`` x ``size`` fp32 matmul on ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for threads in (1, 2):
        rate = gflops(args.size, args.runs, threads)
        print(f"fp32 matmul {args.size}^2, {threads} thread(s): {rate:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
