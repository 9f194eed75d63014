#!/usr/bin/env python
"""Train every shapes-scale ablation config on one schedule and print the results as a table.

Each config under ``configs/shapes/ablations/`` (or the ones given) is trained in its own
``tools/train_net.py`` process with the same shortened schedule, evaluated once at the end, and
reported with PQ, mask AP, mIoU and PQ^St from its final ``metrics.json`` line. Rows whose output folder
already holds a finished run are read, not retrained, and an interrupted row continues from its
last checkpoint (written every 100 iterations), so an interrupted campaign resumes.

    python tools/shapes_ablation_table.py                         # every row, ~5 min each on 2 cores
    python tools/shapes_ablation_table.py --rows table4c --iters 400 --output /tmp/abl
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ABLATIONS = REPO / "configs" / "shapes" / "ablations"
# Column -> metrics.json key; PQ^St is what semantic configs with TEST.SEMANTIC_PQ report.
METRICS = {
    "PQ": "panoptic_seg/PQ",
    "mask AP": "segm/AP",
    "mIoU": "sem_seg/mIoU",
    "PQ^St": "sem_seg/PQ_St",
}


def final_metrics(run_dir: Path, iters: int) -> dict[str, float] | None:
    """The evaluation record written at iteration ``iters``, or None if the run did not finish."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    for line in reversed(path.read_text().splitlines()):
        record = json.loads(line)
        if record.get("iteration") == iters and any(key in record for key in METRICS.values()):
            return record
    return None


def train(config: Path, run_dir: Path, iters: int, opts: list[str]) -> float:
    """Train ``config`` for ``iters`` iterations into ``run_dir``; returns the wall time (s).

    The run's output goes to ``<run_dir>.stdout.txt``; a failed run raises and names that file.
    """
    command = [
        sys.executable, str(REPO / "tools" / "train_net.py"), "--config-file", str(config),
        "--resume", "SOLVER.MAX_ITER", str(iters), "TEST.EVAL_PERIOD", "0",
        "SOLVER.CHECKPOINT_PERIOD", "100", "TEST.NUM_VISUALIZATIONS", "0",
        "OUTPUT_DIR", str(run_dir), *opts,
    ]  # fmt: skip
    log_path = run_dir.parent / f"{run_dir.name}.stdout.txt"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
    if returncode:
        raise RuntimeError(f"{config} failed (exit status {returncode}); its output: {log_path}")
    return time.perf_counter() - start


def row(config: Path, record: dict[str, float], wall: float | None) -> str:
    """One markdown row: the config path, the metrics (``-`` where absent) and the wall time."""
    cells = [f"`{config.relative_to(REPO)}`"]
    for key in METRICS.values():
        value = record.get(key)
        cells.append("-" if value is None or math.isnan(value) else f"{value:.1f}")
    cells.append("-" if wall is None else f"{wall:.0f}")
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", nargs="*", default=[], help="keep configs whose path has one of these")
    parser.add_argument("--iters", type=int, default=400, help="iterations per row (default 400)")
    parser.add_argument("--output", type=Path, default=REPO / "output" / "shapes_ablation_table")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="overrides passed to every row")
    args = parser.parse_args(argv)
    configs = sorted(ABLATIONS.rglob("*.yaml"))
    if args.rows:
        configs = [c for c in configs if any(key in str(c) for key in args.rows)]
    if not configs:
        parser.error(f"no config under {ABLATIONS} matches --rows {args.rows}")
    lines = ["| config | " + " | ".join(METRICS) + " | wall (s) |", "|---" * (len(METRICS) + 2) + "|"]
    for config in configs:
        run_dir = args.output / config.relative_to(ABLATIONS).with_suffix("")
        run_dir.mkdir(parents=True, exist_ok=True)
        wall = None
        if final_metrics(run_dir, args.iters) is None:
            wall = train(config, run_dir, args.iters, args.opts)
        lines.append(row(config, final_metrics(run_dir, args.iters) or {}, wall))
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
