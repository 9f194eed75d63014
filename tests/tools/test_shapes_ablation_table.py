"""tools/shapes_ablation_table.py: rows trained through train_net, read back, and failures named."""

import json
import math

import pytest

from tests.helpers.train_net_runs import TINY_OPTS
from tools import shapes_ablation_table as table


def test_final_metrics_is_the_evaluation_at_the_last_iteration(tmp_path):
    records = [
        {"iteration": 399, "total_loss": 1.0},
        {"iteration": 400, "panoptic_seg/PQ": 70.0, "segm/AP": 40.0},
    ]
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(r) for r in records))
    assert table.final_metrics(tmp_path, 400) == records[1]
    assert table.final_metrics(tmp_path, 800) is None  # a shorter, unfinished run
    assert table.final_metrics(tmp_path / "missing", 400) is None


def test_row_prints_one_decimal_and_a_dash_for_missing_or_nan():
    config = table.ABLATIONS / "mask2former" / "x.yaml"
    line = table.row(config, {"panoptic_seg/PQ": 78.66, "segm/AP": math.nan}, None)
    assert line == "| `configs/shapes/ablations/mask2former/x.yaml` | 78.7 | - | - | - | - |"
    semantic = {"sem_seg/mIoU": 94.0, "sem_seg/PQ_St": 91.24}
    assert table.row(config, semantic, 12.4).endswith("| - | - | 94.0 | 91.2 | 12 |")


def test_rows_matching_nothing_are_refused(capsys):
    with pytest.raises(SystemExit):
        table.main(["--rows", "no_such_row"])
    assert "no config under" in capsys.readouterr().err


@pytest.fixture
def child_env(datasets_root, monkeypatch):
    """train_net children read the tiny shapes set, on one CPU thread."""
    monkeypatch.setenv("DETECTRON2_DATASETS", datasets_root)
    monkeypatch.delenv("MASKFORMER_DATASETS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.mark.slow
def test_a_row_trains_once_and_is_read_back(tmp_path, child_env):
    argv = ["--rows", "table4e_pixel_decoder/fpn.", "--iters", "2", "--output", str(tmp_path)]
    first = table.main([*argv, *TINY_OPTS])
    cells = [c.strip() for c in first[-1].strip("|").split("|")]
    assert cells[0] == "`configs/shapes/ablations/mask2former/table4e_pixel_decoder/fpn.yaml`"
    assert all(0.0 <= float(c) <= 100.0 for c in cells[1:4])  # PQ, mask AP, mIoU
    assert cells[4] == "-"  # no PQ^St: a panoptic config
    assert float(cells[5]) > 0  # trained: a wall time
    log = tmp_path / "mask2former" / "table4e_pixel_decoder" / "fpn.stdout.txt"
    written = log.stat().st_mtime_ns
    again = table.main([*argv, *TINY_OPTS])
    assert again[-1] == first[-1].rsplit("|", 2)[0] + "| - |"  # same metrics, not retrained
    assert log.stat().st_mtime_ns == written


def test_a_failed_row_names_its_output_file(tmp_path, child_env):
    argv = ["--rows", "table4e_pixel_decoder/fpn.", "--iters", "2", "--output", str(tmp_path)]
    with pytest.raises(RuntimeError, match=r"fpn\.yaml failed .*fpn\.stdout\.txt"):
        table.main([*argv, "MODEL.NOT_A_KEY", "1"])
    log = tmp_path / "mask2former" / "table4e_pixel_decoder" / "fpn.stdout.txt"
    assert "NOT_A_KEY" in log.read_text()
