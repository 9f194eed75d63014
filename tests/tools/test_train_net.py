"""End-to-end tests of ``tools/train_net.py``: train, evaluate, eval-only, resume, SIGKILL, multi-process.

Every run is a real subprocess of the command line a user types, on the README's Mask2Former
panoptic shapes config made tiny by overrides (64 px images, a 32-wide head, 8 queries) and a tiny
shapes dataset generated into a temporary datasets root: the loader generates the default-sized
set only when ``<root>/shapes`` is missing, so the tiny set is written under that name.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.paths import REPO
from tests.helpers.train_net_runs import (
    TINY_SHAPES,
    assert_same_metrics,
    assert_same_weights,
    free_port,
    read_results,
    start_iteration,
    subprocess_env,
    train_net,
    train_net_command,
)

MAX_ITER = 6
LOOSE_EXPECTATION = ("TEST.EXPECTED_RESULTS", "[['sem_seg', 'mIoU', 50.0, 50.0]]")


@pytest.fixture(scope="module")
def full_run(datasets_root, tmp_path_factory) -> Path:
    """The uninterrupted reference run: MAX_ITER iterations, checkpoints every 2, final evaluation."""
    out = tmp_path_factory.mktemp("full")
    # Any finite mIoU passes: checks that training verifies TEST.EXPECTED_RESULTS at the end.
    train_net(datasets_root, out, "SOLVER.MAX_ITER", str(MAX_ITER), *LOOSE_EXPECTATION)
    return out


def test_training_writes_every_output(full_run):
    for name in ("config.yaml", "log.txt", "metrics.json", "model_final.pth", "last_checkpoint"):
        assert (full_run / name).is_file(), name
    assert (full_run / "last_checkpoint").read_text().strip() == "model_final.pth"
    assert "Results match TEST.EXPECTED_RESULTS (1 checks)." in (full_run / "log.txt").read_text()
    assert sorted(p.name for p in full_run.glob("model_0*.pth")) == [
        "model_0000001.pth",
        "model_0000003.pth",
        "model_0000005.pth",
    ]
    assert list(full_run.glob("events.out.tfevents.*")), "no TensorBoard events file"
    metrics = [json.loads(line) for line in (full_run / "metrics.json").read_text().splitlines()]
    losses = [m for m in metrics if "total_loss" in m]
    assert losses[-1]["iteration"] == MAX_ITER - 1 and math.isfinite(losses[-1]["total_loss"])
    results = read_results(full_run)
    # The final evaluation is logged at iteration MAX_ITER (Detectron2's after_train convention).
    final_eval = next(m for m in metrics if "panoptic_seg/PQ" in m)
    assert final_eval["iteration"] == MAX_ITER
    assert final_eval["panoptic_seg/PQ"] == results["panoptic_seg"]["PQ"]
    assert final_eval["sem_seg/mIoU"] == results["sem_seg"]["mIoU"]
    assert {"panoptic_seg", "segm", "sem_seg"} <= results.keys()
    assert {"PQ", "SQ", "RQ"} <= results["panoptic_seg"].keys()
    assert "AP" in results["segm"] and "mIoU" in results["sem_seg"]
    inference = full_run / "inference" / "shapes_val_panoptic"
    for name in ("panoptic_evaluation.json", "instance_evaluation.json", "sem_seg_evaluation.json"):
        assert (inference / name).is_file(), name
    assert len(list((inference / "panoptic_predictions").glob("*.png"))) == TINY_SHAPES.num_val
    pngs = list((full_run / "visualizations").glob("*.png"))
    assert len(pngs) == TINY_SHAPES.num_val  # min(4, number of val images)
    assert all(p.stat().st_size > 0 for p in pngs)
    assert list(full_run.glob("events.out.tfevents.*.visualizations")), "no prediction images in TensorBoard"


def _expected(results: dict, offset: float) -> str:
    """TEST.EXPECTED_RESULTS asking for the PQ of ``results`` plus ``offset``, tolerance 1e-6."""
    return repr([["panoptic_seg", "PQ", results["panoptic_seg"]["PQ"] + offset, 1e-6]])


def test_eval_only_reproduces_training_metrics(datasets_root, full_run, tmp_path):
    weights = ("MODEL.WEIGHTS", str(full_run / "model_final.pth"))
    expected = ("TEST.EXPECTED_RESULTS", _expected(read_results(full_run), 0.0))
    output = train_net(datasets_root, tmp_path, *weights, *expected, flags=("--eval-only",))
    assert_same_metrics(read_results(tmp_path), read_results(full_run))
    assert "Results match TEST.EXPECTED_RESULTS (1 checks)." in output
    assert not list(tmp_path.glob("*.pth")), "--eval-only must not write checkpoints"


def test_eval_only_fails_on_unexpected_results(datasets_root, full_run, tmp_path):
    opts = ("MODEL.WEIGHTS", str(full_run / "model_final.pth"))
    opts += ("TEST.EXPECTED_RESULTS", _expected(read_results(full_run), 1.0))
    proc = subprocess.run(
        train_net_command(tmp_path, *opts, flags=("--eval-only",)),
        cwd=REPO,
        env=subprocess_env(datasets_root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Results do not match TEST.EXPECTED_RESULTS" in proc.stderr and "panoptic_seg/PQ:" in proc.stderr


def test_resume_continues_to_the_uninterrupted_weights(datasets_root, full_run, tmp_path):
    # A run stopped after its checkpoint at iteration 2 (of the same MAX_ITER: the poly schedule and
    # its saved state depend on it) leaves exactly this behind.
    shutil.copy(full_run / "model_0000001.pth", tmp_path)
    (tmp_path / "last_checkpoint").write_text("model_0000001.pth")
    output = train_net(datasets_root, tmp_path, "SOLVER.MAX_ITER", str(MAX_ITER), flags=("--resume",))
    assert start_iteration(output) == 2
    assert_same_weights(tmp_path / "model_final.pth", full_run / "model_final.pth")
    assert_same_metrics(read_results(tmp_path), read_results(full_run))


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(datasets_root, full_run, tmp_path):
    proc = subprocess.Popen(
        train_net_command(tmp_path, "SOLVER.MAX_ITER", str(MAX_ITER)),
        cwd=REPO,
        env=subprocess_env(datasets_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "last_checkpoint").exists():
            assert proc.poll() is None, f"training exited with {proc.returncode} before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "model_final.pth").exists(), "the run finished before it could be killed"
    output = train_net(datasets_root, tmp_path, "SOLVER.MAX_ITER", str(MAX_ITER), flags=("--resume",))
    assert start_iteration(output) == 2
    assert_same_weights(tmp_path / "model_final.pth", full_run / "model_final.pth")


def _assert_distributed_run(out: Path, output: str) -> None:
    """Two processes, one image each per step (total batch 2), training finished and evaluated."""
    assert "World size: 2" in output or "World size: 2" in (out / "log.txt").read_text()
    log = (out / "log.txt").read_text()
    assert "Training on 6 images, 1 per process and batch." in log
    assert (out / "model_final.pth").is_file()
    results = read_results(out)
    assert {"panoptic_seg", "segm", "sem_seg"} <= results.keys()
    assert math.isfinite(results["panoptic_seg"]["PQ"])


@pytest.mark.dist
def test_two_cpu_processes(datasets_root, tmp_path):
    output = train_net(datasets_root, tmp_path, "SOLVER.MAX_ITER", "2", flags=("--num-gpus", "2"))
    _assert_distributed_run(tmp_path, output)


@pytest.mark.dist
@pytest.mark.slow
def test_torchrun(datasets_root, tmp_path):
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    output = train_net(datasets_root, tmp_path, "SOLVER.MAX_ITER", "2", launcher=launcher)
    _assert_distributed_run(tmp_path, output)


@pytest.mark.dist
@pytest.mark.slow
def test_two_machines_simulated(datasets_root, tmp_path):
    dist_url = f"tcp://127.0.0.1:{free_port()}"
    procs = [
        subprocess.Popen(
            train_net_command(
                tmp_path,
                "SOLVER.MAX_ITER",
                "2",
                flags=(
                    "--num-gpus",
                    "1",
                    "--num-machines",
                    "2",
                    "--machine-rank",
                    str(rank),
                    "--dist-url",
                    dist_url,
                ),
            ),
            cwd=REPO,
            env=subprocess_env(datasets_root),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-6000:]
    _assert_distributed_run(tmp_path, outputs[0])
