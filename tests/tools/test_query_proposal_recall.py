"""tools/query_proposal_recall.py: AR@100 of every decoder layer on a generated instance split."""


import pytest

from tests.helpers.tiny_m2f_shapes import CONFIG, PREFIX, TINY_OPTS, register_tiny_shapes, save_tiny_weights
from tools import query_proposal_recall as tool


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
