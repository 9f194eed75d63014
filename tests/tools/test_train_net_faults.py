"""``tools/train_net.py`` on a bad day: a training-only run, and a two-process run stopped after
a checkpoint and resumed, which must end with the uninterrupted two-process run's weights (every
process's RNG state is restored).

Uses the tiny shapes setup of ``tests/helpers/train_net_runs.py`` (as ``test_train_net`` does).
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.train_net_runs import assert_same_weights, start_iteration, train_net


@pytest.mark.slow
def test_training_only_run_exits_zero(datasets_root, tmp_path):
    output = train_net(datasets_root, tmp_path, "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()")
    assert (tmp_path / "model_final.pth").is_file()
    assert "DATASETS.TEST is empty: no evaluation." in output + (tmp_path / "log.txt").read_text()
    assert not (tmp_path / "inference").exists()


@pytest.mark.dist
@pytest.mark.slow
def test_two_process_resume_matches_the_uninterrupted_two_process_run(datasets_root, tmp_path):
    opts = ("SOLVER.MAX_ITER", "4", "DATASETS.TEST", "()")
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_net(datasets_root, full, *opts, flags=("--num-gpus", "2"))
    resumed.mkdir()
    shutil.copy(full / "model_0000001.pth", resumed)  # what a run killed after iteration 1 leaves
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    output = train_net(datasets_root, resumed, *opts, flags=("--num-gpus", "2", "--resume"))
    assert start_iteration(output + (resumed / "log.txt").read_text()) == 2
    assert_same_weights(resumed / "model_final.pth", full / "model_final.pth")
