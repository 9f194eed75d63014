"""tools/export_model.py: writes model.onnx and model.pt2 that match the eager network."""

import importlib.util
from pathlib import Path

import pytest
import torch

from maskformer.export import OnnxNetwork, load_program

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("export_model", ROOT / "tools" / "export_model.py")
export_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_model)

CONFIG = str(ROOT / "configs/shapes/semantic-segmentation/maskformer_R18_shapes.yaml")


@pytest.mark.slow
def test_writes_both_formats_and_verifies(tmp_path, caplog):
    argv = ["--config-file", CONFIG, "--output", str(tmp_path), "--format", "onnx", "torch"]
    argv += ["--height", "64", "--width", "96", "--verify", "MODEL.DEVICE", "cpu"]
    with caplog.at_level("INFO", logger="maskformer.export_model"):
        written = export_model.main(argv)
    assert written == {"torch": tmp_path / "model.pt2", "onnx": tmp_path / "model.onnx"}
    assert "onnx at 96x160: max |diff|" in caplog.text  # the second, larger size
    images = torch.randn(1, 3, 128, 64)
    logits, masks = OnnxNetwork(written["onnx"])(images)
    program_logits, program_masks = load_program(written["torch"]).module()(images)
    assert masks.shape == (1, 20, 32, 16) and logits.shape == (1, 20, 9)
    torch.testing.assert_close(logits, program_logits, rtol=0, atol=1e-4)
    torch.testing.assert_close(masks, program_masks, rtol=0, atol=1e-4)


def test_rejects_sizes_off_the_size_divisibility(tmp_path):
    with pytest.raises(ValueError, match="multiples of the size divisibility 32"):
        export_model.main(["--config-file", CONFIG, "--output", str(tmp_path), "--height", "100"])
