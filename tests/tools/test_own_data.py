"""A user's own COCO panoptic dataset, declared only in YAML, through the command-line tools.

The dataset is the tiny shapes set written under another name (its files are in the COCO panoptic
and instance formats); the YAML declares it in DATASETS.REGISTER. It is validated by the CLI
validator, trained in one process and in two (``--num-gpus 2``, each process registers it
itself), and evaluated with ``--eval-only``. Each user error fails before the first iteration,
naming the file or key and the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from maskformer.data import MetadataCatalog
from maskformer.data.datasets.shapes import write_shapes_dataset
from tests.helpers.paths import REPO
from tests.helpers.train_net_runs import (
    TINY_OPTS,
    TINY_SHAPES,
    assert_same_metrics,
    free_port,
    read_results,
    subprocess_env,
)
from tools import analyze_model, demo, visualize_data

CONFIG_BASE = REPO / "configs/shapes/panoptic-segmentation/maskformer2_R18_shapes.yaml"


def _entry(split: str) -> str:
    base = f"pets/{split}"
    return f"""    - name: pets_{split}
      format: coco_panoptic
      image_root: {base}/images
      panoptic_root: {base}/panoptic
      panoptic_json: {base}/panoptic.json
      instances_json: {base}/instances.json
      sem_seg_root: {base}/sem_seg
"""


@pytest.fixture(scope="module")
def own(tmp_path_factory) -> tuple[str, Path]:
    """(datasets root holding ``pets/``, the user's YAML declaring pets_train and pets_val)."""
    root = tmp_path_factory.mktemp("own_datasets")
    write_shapes_dataset(str(root / "pets"), TINY_SHAPES)
    config = root / "pets.yaml"
    config.write_text(
        f"_BASE_: {CONFIG_BASE}\nDATASETS:\n  REGISTER:\n{_entry('train')}{_entry('val')}"
        '  TRAIN: ("pets_train",)\n  TEST: ("pets_val",)\n'
    )
    return str(root), config


def _run(root: str, *args: str, ok: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=subprocess_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, f"exit {proc.returncode}:\n{output[-6000:]}"
    return output


def _train(own: tuple[str, Path], out: Path, *opts: str, flags: tuple[str, ...] = (), ok: bool = True) -> str:
    root, config = own
    command = ["tools/train_net.py", "--config-file", str(config), *flags, *TINY_OPTS]
    return _run(root, *command, "OUTPUT_DIR", str(out), *opts, ok=ok)


@pytest.fixture(scope="module")
def trained(own, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pets_run")
    output = _train(own, out, "SOLVER.MAX_ITER", "2")
    assert "Registered 2 datasets from DATASETS.REGISTER" in (out / "log.txt").read_text()
    assert "Pre-flight check of ['pets_train', 'pets_val']: 0 problem(s)" in output
    return out


def test_cli_validator_checks_the_yaml_dataset(own):
    root, config = own
    output = _run(root, "-m", "maskformer.data.validation", "--config-file", str(config))
    assert "0 problem(s) in 'pets_train'." in output and "0 problem(s) in 'pets_val'." in output


@pytest.mark.slow
def test_yaml_dataset_trains_and_eval_only_reproduces(own, trained, tmp_path):
    results = read_results(trained)
    assert {"panoptic_seg", "segm", "sem_seg"} <= results.keys()
    weights = ("MODEL.WEIGHTS", str(trained / "model_final.pth"))
    _train(own, tmp_path, *weights, flags=("--eval-only",))
    assert_same_metrics(read_results(tmp_path), results)


@pytest.mark.dist
@pytest.mark.slow
def test_yaml_dataset_trains_in_two_processes(own, tmp_path):
    _train(own, tmp_path, "SOLVER.MAX_ITER", "2", flags=("--num-gpus", "2"))
    log = (tmp_path / "log.txt").read_text()
    assert "World size: 2" in log and (tmp_path / "model_final.pth").is_file()
    assert "panoptic_seg" in read_results(tmp_path)


def test_wrong_num_classes_stops_before_training(own, tmp_path):
    # Too large is refused the same way (tests/data/test_from_config.py checks both in-process).
    output = _train(own, tmp_path, "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "5", ok=False)
    assert "MODEL.SEM_SEG_HEAD.NUM_CLASSES: is 5 but dataset 'pets_train' has 8 classes" in output
    assert "set MODEL.SEM_SEG_HEAD.NUM_CLASSES 8" in output
    assert "Starting training" not in output and not (tmp_path / "metrics.json").exists()


@pytest.mark.slow
def test_missing_image_stops_before_training(own, tmp_path):
    # A missing annotation file: tests/data/test_from_config.py (the message names path, root, README).
    root = tmp_path / "broken"
    write_shapes_dataset(str(root / "pets"), TINY_SHAPES)
    image = root / "pets/train/images/000003.png"
    image.unlink()
    config = root / "pets.yaml"
    config.write_text(own[1].read_text())
    output = _train((str(root), config), tmp_path / "out", ok=False)
    assert f"{image}: does not exist (file_name of dataset 'pets_train'" in output
    assert "section 'Your own data' of datasets/README.md" in output
    assert "Starting training" not in output


@pytest.mark.slow
def test_existing_run_folder_is_refused_or_gets_a_sub_run(own, trained, tmp_path):
    for name in ("last_checkpoint", "metrics.json"):
        (tmp_path / name).write_text((trained / name).read_text())
    output = _train(own, tmp_path, "SOLVER.MAX_ITER", "1", ok=False)
    assert f"OUTPUT_DIR '{tmp_path}' holds another run (last_checkpoint, metrics.json)" in output
    assert "--resume" in output and "--new-run" in output
    _train(own, tmp_path, "SOLVER.MAX_ITER", "1", flags=("--new-run",))
    (sub_run,) = [p for p in tmp_path.iterdir() if p.name.startswith("run_")]
    assert (sub_run / "model_final.pth").is_file()
    assert (tmp_path / "metrics.json").read_text() == (trained / "metrics.json").read_text()
    lines = [json.loads(line) for line in (sub_run / "metrics.json").read_text().splitlines()]
    assert lines[0]["iteration"] == 0 and os.path.getsize(tmp_path / "last_checkpoint") > 0


def _slurm_launch(own: tuple[str, Path], out: Path, *opts: str, flags: tuple[str, ...] = ()) -> None:
    """Two tasks of a simulated one-node SLURM job step on 127.0.0.1, as ``srun -n 2`` starts them."""
    root, config = own
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = subprocess_env(root) | {
            "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank), "SLURM_NTASKS": "2", "SLURM_NNODES": "1", "SLURM_NODEID": "0",
            "SLURM_JOB_NODELIST": "127.0.0.1", "MASTER_PORT": port,
        }  # fmt: skip
        command = ["tools/train_net.py", "--config-file", str(config), *flags, *TINY_OPTS]
        argv = [sys.executable, *command, "OUTPUT_DIR", str(out), *opts]
        pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        procs.append(subprocess.Popen(argv, cwd=REPO, env=env, **pipe))
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-6000:]


@pytest.mark.dist
@pytest.mark.slow
def test_simulated_slurm_job_trains_and_evaluates_like_one_process(own, trained, tmp_path):
    _slurm_launch(own, tmp_path / "train", "SOLVER.MAX_ITER", "2")
    log = (tmp_path / "train" / "log.txt").read_text()
    assert "SLURM task 0 of 2 (node 0 of 1, local rank 0); default rendezvous tcp://127.0.0.1:" in log
    assert "World size: 2" in log and (tmp_path / "train" / "model_final.pth").is_file()
    # The same weights evaluated by the two SLURM tasks give exactly the one-process metrics.
    weights = ("MODEL.WEIGHTS", str(trained / "model_final.pth"))
    _slurm_launch(own, tmp_path / "eval", *weights, flags=("--eval-only",))
    assert_same_metrics(read_results(tmp_path / "eval"), read_results(trained))


@pytest.mark.slow
def test_every_tool_registers_the_yaml_dataset(own, tmp_path, monkeypatch):
    root, config = own
    monkeypatch.setenv("DETECTRON2_DATASETS", root)
    monkeypatch.delenv("MASKFORMER_DATASETS", raising=False)
    argv = ["--config-file", str(config), "--source", "annotation", "--output-dir", str(tmp_path)]
    visualize_data.main([*argv, "--num-images", "2"])
    assert len(list(tmp_path.glob("*.png"))) == 2
    cfg = demo.setup_cfg(demo.get_parser().parse_args(["--config-file", str(config), "--input", "x.png"]))
    assert MetadataCatalog.get(cfg.DATASETS.TEST[0]).stuff_classes[-1] == "wall"
    args = analyze_model.parse_args(["--config-file", str(config), "--tasks", "flop", "-n", "1", *TINY_OPTS])
    image, fields = next(analyze_model.iter_inputs(analyze_model.setup_cfg(args), args))
    assert image.shape[0] == 3 and fields["file_name"].startswith(os.path.join(root, "pets/val/images"))
