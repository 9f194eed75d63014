"""tools/export_model.py: writes an exported program that matches the eager network."""


import pytest
import torch

from maskformer.export import load_program
from tests.helpers.paths import REPO
from tools import export_model

CONFIG = str(REPO / "configs/shapes/semantic-segmentation/maskformer_R18_shapes.yaml")


@pytest.mark.slow
def test_writes_program_and_verifies(tmp_path, caplog):
    # The ONNX conversion of the same program is covered by tests/export/test_model_export.py.
    argv = ["--config-file", CONFIG, "--output", str(tmp_path), "--format", "torch"]
    argv += ["--height", "64", "--width", "96", "--verify", "MODEL.DEVICE", "cpu"]
    with caplog.at_level("INFO", logger="maskformer.export_model"):
        written = export_model.main(argv)
    assert written == {"torch": tmp_path / "model.pt2"}
    assert "torch.export at 96x160: max |diff| pred_logits 0, pred_masks 0" in caplog.text
    logits, masks = load_program(written["torch"]).module()(torch.randn(1, 3, 128, 64))
    assert logits.shape == (1, 20, 9) and masks.shape == (1, 20, 32, 16)


def test_rejects_sizes_off_the_size_divisibility(tmp_path):
    with pytest.raises(ValueError, match="multiples of the size divisibility 32"):
        export_model.main(["--config-file", CONFIG, "--output", str(tmp_path), "--height", "100"])
