"""Command-line flags and default_setup."""

import os
import random

import pytest

from maskformer.config import get_cfg
from maskformer.engine import default_argument_parser, default_setup


def test_parser_has_exactly_the_official_flags():
    parser = default_argument_parser()
    args = parser.parse_args(
        [
            "--config-file",
            "a.yaml",
            "--resume",
            "--num-gpus",
            "2",
            "SOLVER.BASE_LR",
            "0.1",
            "MODEL.WEIGHTS",
            "x.pkl",
        ]
    )
    assert args.config_file == "a.yaml" and args.resume and not args.eval_only
    assert args.num_gpus == 2 and args.num_machines == 1 and args.machine_rank == 0
    assert args.dist_url == "auto" and args.dist_timeout == 10.0  # minutes
    assert args.opts == ["SOLVER.BASE_LR", "0.1", "MODEL.WEIGHTS", "x.pkl"]
    flags = {s for a in parser._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == {
        "--config-file",
        "--resume",
        "--eval-only",
        "--num-gpus",
        "--num-machines",
        "--machine-rank",
        "--dist-timeout",
        "--dist-url",
        "--new-run",
    }


def test_default_setup_writes_config_log_and_seeds(tmp_path):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    cfg.SEED = 7
    config_file = tmp_path / "in.yaml"
    config_file.write_text("SEED: 7\n")
    args = default_argument_parser().parse_args(["--config-file", str(config_file)])
    default_setup(cfg, args)
    first = random.random()
    assert (tmp_path / "out" / "config.yaml").read_text() == cfg.dump()
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "Environment info" in log and "torch:" in log and "Using seed 7" in log
    default_setup(cfg, args)
    assert random.random() == pytest.approx(first)  # same seed, same numbers (rank 0: no offset)
    assert os.path.isdir(cfg.OUTPUT_DIR)
