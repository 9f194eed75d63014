#!/usr/bin/env python
"""Kill campaign: SIGKILL training at random moments, resume, and compare with an uninterrupted run.

For each process count (``--procs 1 2``; without GPUs, 2 means two CPU processes over gloo) the
script trains the tiny shapes config (training only) once without interruption, then
``--kills`` times: starts the same run in a fresh folder, kills its launcher with SIGKILL (as
``kill -9`` would) at a random moment in the time span that the uninterrupted run took from its
first to its final checkpoint, or while one of its checkpoints, chosen at random, is being written
(every other kill),
checks that no worker outlives the launcher, resumes with ``--resume`` to the end and compares the
final weights bit for bit with the uninterrupted run. It prints one line per kill and a summary;
the exit status is 0 when every resumed run matched and no worker was orphaned.

Usage (from the repository root; about a minute per run on two CPU cores)::

    python scripts/kill_campaign.py --kills 5 --procs 1 2 [--max-iter 8] [--workdir DIR] [--keep]

Every process runs one intra-op thread (OMP_NUM_THREADS=1) so that several can share a machine.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from maskformer.data.datasets.shapes import ShapesSpec, write_shapes_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/shapes/panoptic-segmentation/maskformer2_R18_shapes_tiny.yaml"
_TEMPORARY = re.compile(r"^\..+\.pth\.[A-Za-z0-9_]{8}\.tmp$")
_START = re.compile(r"Starting training from iteration (\d+)")
ORPHAN_GRACE_S = 10.0


@dataclass
class Trial:
    """One kill and its resume."""

    procs: int
    mode: str  # "random" or "checkpoint write"
    killed_at_s: float = 0.0
    killed: bool = False  # False: the run ended before the chosen moment
    orphans: int = 0  # workers still running ORPHAN_GRACE_S after the launcher's death
    workers_gone_s: float = 0.0
    resumed_from: int = -1
    fallback: bool = False  # the resume skipped a missing / unreadable checkpoint
    resume_rc: int = 0
    differing: int = -1  # tensors differing from the uninterrupted run (-1: not compared)
    tensors: int = 0


def _command(out: Path, procs: int, args: argparse.Namespace, resume: bool = False) -> list[str]:
    flags = ["--num-gpus", str(procs)] + (["--resume"] if resume else [])
    schedule = [
        "SOLVER.MAX_ITER",
        str(args.max_iter),
        "SOLVER.CHECKPOINT_PERIOD",
        str(args.checkpoint_period),
    ]
    opts = [*schedule, "DATASETS.TEST", "()", "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(out)]
    return [sys.executable, "tools/train_net.py", "--config-file", CONFIG, *flags, *opts]


def _env(datasets: Path) -> dict[str, str]:
    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["CUDA_VISIBLE_DEVICES"] = ""
    for key in ("MASKFORMER_DATASETS", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _run(cmd: list[str], env: dict[str, str], log: Path) -> int:
    with open(log, "w") as f:
        return subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def _session_members(session: int) -> list[int]:
    """Live (non-zombie) processes of a session, read from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            pids.append(int(entry))
    return pids


def _checkpoint_writes(out: Path) -> set[str]:
    """Temporary files of checkpoints being written now."""
    try:
        return {e.name for e in os.scandir(out) if _TEMPORARY.match(e.name)}
    except FileNotFoundError:
        return set()


def _kill_run(
    out: Path, procs: int, args: argparse.Namespace, env: dict, trial: Trial, moment: float
) -> None:
    """Starts a run, SIGKILLs its launcher, then reaps and counts the workers that outlive it.

    The kill comes ``moment`` seconds after the start (mode "random"), or during the
    ``int(moment)``-th checkpoint write (mode "checkpoint write").
    """
    log = open(out.parent / f"{out.name}_killed.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        _command(out, procs, args),
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    start = time.monotonic()
    writes: set[str] = set()
    while proc.poll() is None:
        now = time.monotonic() - start
        if trial.mode != "random":
            writes |= _checkpoint_writes(out)
        if (trial.mode == "random" and now >= moment) or (trial.mode != "random" and len(writes) >= moment):
            os.kill(proc.pid, signal.SIGKILL)
            trial.killed, trial.killed_at_s = True, now
            break
        time.sleep(0.001 if trial.mode != "random" else 0.01)
    proc.wait()
    log.close()
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    trial.workers_gone_s = time.monotonic() - start - trial.killed_at_s
    left = _session_members(proc.pid)
    trial.orphans = len(left)
    for pid in left:
        os.kill(pid, signal.SIGKILL)


def _compare(final: Path, reference: dict[str, torch.Tensor], trial: Trial) -> None:
    if not final.is_file():
        return
    weights = torch.load(final, map_location="cpu", weights_only=True)["model"]
    trial.tensors = len(reference)
    same_keys = weights.keys() == reference.keys()
    trial.differing = (
        sum(not torch.equal(weights[k], reference[k]) for k in reference) if same_keys else len(reference)
    )


def _trial(work: Path, procs: int, index: int, args, env, reference, window: tuple[float, float]) -> Trial:
    trial = Trial(procs, "checkpoint write" if index % 2 else "random")
    out = work / f"p{procs}_kill{index}"
    saves = args.max_iter // args.checkpoint_period + 1  # periodic ones and model_final
    moment = random.uniform(*window) if trial.mode == "random" else random.randint(1, saves)
    _kill_run(out, procs, args, env, trial, moment)
    log = work / f"p{procs}_kill{index}_resume.log"
    trial.resume_rc = _run(_command(out, procs, args, resume=True), env, log)
    text = log.read_text()
    match = _START.search(text)
    trial.resumed_from = int(match.group(1)) if match else -1
    trial.fallback = "newest loadable checkpoint. Skipped:" in text
    if trial.resume_rc == 0:
        _compare(out / "model_final.pth", reference, trial)
    return trial


def _describe(t: Trial) -> str:
    kill = f"killed at {t.killed_at_s:5.1f} s" if t.killed else "finished before the kill"
    match = "bit-identical" if t.differing == 0 else f"{t.differing}/{t.tensors} tensors differ"
    if t.differing < 0:
        match = "no model_final.pth after the resume"
    if t.resume_rc != 0:
        match = f"resume exited with {t.resume_rc}"
    fallback = ", fell back to an older checkpoint" if t.fallback else ""
    return (
        f"{t.procs} proc | {t.mode:16s} | {kill} | workers gone after {t.workers_gone_s:4.1f} s, "
        f"orphans {t.orphans} | resumed from iteration {t.resumed_from}{fallback} | {match}"
    )


def _campaign(work: Path, procs: int, args: argparse.Namespace, env: dict) -> list[Trial]:
    ref = work / f"p{procs}_reference"
    start = time.time()
    rc = _run(_command(ref, procs, args), env, work / f"p{procs}_reference.log")
    duration = time.time() - start
    if rc != 0:
        sys.exit(
            f"The uninterrupted {procs}-process run failed (exit {rc}); see {work}/p{procs}_reference.log"
        )
    # Random kills fall between the first and the final checkpoint of the uninterrupted run.
    first = min(p.stat().st_mtime for p in ref.glob("model_0*.pth"))
    window = (first - start, (ref / "model_final.pth").stat().st_mtime - start)
    span = f"{window[0]:.1f}-{window[1]:.1f} s"
    print(f"{procs} proc | uninterrupted run: {duration:.1f} s, kills between {span}", flush=True)
    reference = torch.load(ref / "model_final.pth", map_location="cpu", weights_only=True)["model"]
    trials = []
    for index in range(args.kills):
        trials.append(_trial(work, procs, index, args, env, reference, window))
        print(_describe(trials[-1]), flush=True)
    return trials


def _summary(trials: list[Trial]) -> bool:
    ok = True
    print("\nSummary")
    for procs in sorted({t.procs for t in trials}):
        mine = [t for t in trials if t.procs == procs]
        killed = [t for t in mine if t.killed]
        during_write = [t for t in killed if t.mode != "random"]
        identical = sum(t.differing == 0 for t in mine)
        orphans = sum(t.orphans for t in mine)
        print(
            f"  {procs} process(es): {len(killed)} kills ({len(during_write)} during checkpoint writes), "
            f"{identical}/{len(mine)} resumed runs bit-identical to the uninterrupted run, "
            f"{sum(t.fallback for t in mine)} fallbacks to an older checkpoint, {orphans} orphaned workers, "
            f"{sum(t.resume_rc != 0 for t in mine)} failed resumes"
        )
        ok = ok and identical == len(mine) and orphans == 0
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=5, help="kills per process count (default 5)")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts (default 1 2)")
    parser.add_argument("--max-iter", type=int, default=8, help="iterations of each run (default 8)")
    parser.add_argument(
        "--checkpoint-period", type=int, default=2, help="SOLVER.CHECKPOINT_PERIOD (default 2)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--workdir", type=Path, help="folder for the runs (default: a new temporary folder)")
    args = parser.parse_args()
    if args.kills < 1 or args.max_iter < 2 or args.checkpoint_period < 1 or min(args.procs) < 1:
        parser.error("--kills, --checkpoint-period and --procs must be >= 1 and --max-iter >= 2")
    random.seed(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kill_campaign_"))
    work.mkdir(parents=True, exist_ok=True)
    datasets = work / "datasets"
    if not (datasets / "shapes").is_dir():
        write_shapes_dataset(
            str(datasets / "shapes"), ShapesSpec(image_size=64, num_train=8, num_val=2, seed=5)
        )
    print(
        f"Kill campaign in {work}: {args.kills} kills per process count, {args.max_iter} iterations",
        flush=True,
    )
    trials = [t for procs in args.procs for t in _campaign(work, procs, args, _env(datasets))]
    sys.exit(0 if _summary(trials) else 1)


if __name__ == "__main__":
    main()
