"""tools/query_proposal_recall.py: AR@100 of every decoder layer on a generated instance split."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "models"))
from tiny_m2f_shapes import CONFIG, PREFIX, TINY_OPTS, register_tiny_shapes, save_tiny_weights  # noqa: E402

_spec = importlib.util.spec_from_file_location("recall_tool", ROOT / "tools" / "query_proposal_recall.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_one_recall_per_decoder_layer(tmp_path, capsys):
    register_tiny_shapes(tmp_path / "datasets")
    weights = save_tiny_weights(tmp_path / "tiny.pth")
    argv = ["--config-file", str(CONFIG), "--dataset", f"{PREFIX}_val_instance", *TINY_OPTS]
    recalls = tool.main([*argv, "MODEL.WEIGHTS", weights])
    # DEC_LAYERS 3: the learnable-query prediction (layer 0) and two decoder layers.
    assert list(recalls) == ["AR@100-layer0", "AR@100-layer1", "AR@100-layer2"]
    assert all(0.0 <= v <= 100.0 for v in recalls.values())
    assert "| 0 |" in capsys.readouterr().out


def test_a_dataset_without_instance_annotations_is_refused(tmp_path):
    register_tiny_shapes(tmp_path / "datasets")
    argv = ["--config-file", str(CONFIG), "--dataset", f"{PREFIX}_val_sem_seg", *TINY_OPTS]
    with pytest.raises(SystemExit, match="no instance annotations"):
        tool.main(argv)
