"""Runs of ``tools/train_net.py`` as a user types them, on the tiny shapes setup the tools tests share.

The README's Mask2Former panoptic shapes config made tiny by overrides (64 px images, a 32-wide
head, 8 queries) on a tiny shapes dataset written as ``<datasets root>/shapes`` (the loader
generates the default-sized set only when that folder is missing).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from maskformer.data.datasets.shapes import ShapesSpec
from tests.helpers.paths import REPO

CONFIG = "configs/shapes/panoptic-segmentation/maskformer2_R18_shapes.yaml"
# Small enough that one run (start-up, 6 iterations, evaluation, visualisations) takes seconds.
TINY_OPTS = [
    "MODEL.MASK_FORMER.HIDDEN_DIM", "32",
    "MODEL.MASK_FORMER.NHEADS", "2",
    "MODEL.MASK_FORMER.DEC_LAYERS", "3",
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "8",
    "MODEL.MASK_FORMER.DIM_FEEDFORWARD", "64",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "256",
    "MODEL.SEM_SEG_HEAD.CONVS_DIM", "32",
    "MODEL.SEM_SEG_HEAD.MASK_DIM", "32",
    "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "1",
    "INPUT.MIN_SIZE_TRAIN", "(48, 64)",
    "INPUT.MAX_SIZE_TRAIN", "96",
    "INPUT.CROP.SIZE", "(64, 64)",
    "INPUT.MIN_SIZE_TEST", "64",
    "INPUT.MAX_SIZE_TEST", "96",
    "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.CHECKPOINT_PERIOD", "2",
    "TEST.EVAL_PERIOD", "0",
    "DATALOADER.NUM_WORKERS", "0",
    "SEED", "7",
]  # fmt: skip
TINY_SHAPES = ShapesSpec(image_size=64, num_train=6, num_val=3, seed=5)


def subprocess_env(datasets_root: str) -> dict[str, str]:
    """The environment of a CPU child process reading its datasets from ``datasets_root``."""
    # CPU runs even on a GPU machine: with CUDA visible, the launcher would pick nccl and one GPU per process.
    env = dict(os.environ, DETECTRON2_DATASETS=datasets_root, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.pop("MASKFORMER_DATASETS", None)  # it would take precedence over DETECTRON2_DATASETS
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)  # a test run under torchrun must not make the child think it is one
    return env


def train_net_command(
    out: Path, *opts: str, flags: tuple[str, ...] = (), launcher: tuple[str, ...] = ()
) -> list[str]:
    """The command line of a tiny ``tools/train_net.py`` run writing to ``out`` (under ``launcher``)."""
    script = [sys.executable, "tools/train_net.py"] if not launcher else [*launcher, "tools/train_net.py"]
    return [*script, "--config-file", CONFIG, *flags, *TINY_OPTS, "OUTPUT_DIR", str(out), *opts]


def train_net(
    datasets_root: str,
    out: Path,
    *opts: str,
    flags: tuple[str, ...] = (),
    launcher: tuple[str, ...] = (),
    timeout: float = 300,
) -> str:
    """Runs ``tools/train_net.py`` to completion; returns its output, or fails the test with it."""
    proc = subprocess.run(
        train_net_command(out, *opts, flags=flags, launcher=launcher),
        cwd=REPO,
        env=subprocess_env(datasets_root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"train_net.py exited with {proc.returncode}:\n{output[-6000:]}"
    return output


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a rendezvous address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of a checkpoint file."""
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def assert_same_weights(path_a: Path, path_b: Path) -> None:
    """The two checkpoints hold the same names and bit-identical tensors."""
    a, b = load_weights(path_a), load_weights(path_b)
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, f"{len(differing)} of {len(a)} tensors differ, e.g. {differing[:5]}"


def read_results(out: Path) -> dict:
    """The metrics a run wrote to ``<out>/inference/results.json``."""
    return json.loads((out / "inference" / "results.json").read_text())


def assert_same_metrics(a: dict, b: dict) -> None:
    """Equal nested metric dicts, where NaN (e.g. AP of a class absent from val) equals NaN."""
    assert a.keys() == b.keys()
    for task in a:
        assert a[task].keys() == b[task].keys(), task
        for metric, value in a[task].items():
            other = b[task][metric]
            assert value == other or (math.isnan(value) and math.isnan(other)), (task, metric, value, other)


def start_iteration(output: str) -> int:
    """The iteration the train loop reported starting from."""
    marker = "Starting training from iteration "
    line = next(line for line in output.splitlines() if marker in line)
    return int(line.split(marker)[1].split()[0])
