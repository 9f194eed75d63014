"""ONNX export of the segmentation network and an onnxruntime runner for it.

Needs the optional ``export`` extra (``pip install 'maskformer[export]'``: onnx, onnxscript,
onnxruntime). The model goes through ``torch.export`` first (:func:`export_program`), so the ONNX
graph has the same dynamic batch, height and width.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor
from torch.export import ExportedProgram

from .network import OUTPUT_NAMES

__all__ = ["INPUT_NAME", "OnnxNetwork", "export_onnx"]

INPUT_NAME = "images"
# GridSample (opset 16) with the 2-D bilinear / zeros semantics of torch's grid_sample.
DEFAULT_OPSET = 18


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"ONNX export / inference needs '{module}': pip install 'maskformer[export]' "
            "(onnx, onnxscript, onnxruntime)."
        ) from e


def export_onnx(program: ExportedProgram, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Converts an exported network program to an ONNX file.

    Args:
        program: from :func:`maskformer.export.export_program`.
        path: output ``.onnx`` file.
        opset: ONNX opset version (16 or newer, for ``GridSample``).

    Returns:
        The written path; input ``images`` ``[B, 3, H, W]``, outputs ``pred_logits``, ``pred_masks``.
    """
    _require("onnxscript")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"ONNX models are saved as .onnx files, got '{path}'.")
    if opset < 16:
        raise ValueError(f"opset {opset} has no GridSample; use 16 or newer.")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx_program = torch.onnx.export(
        program,
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        opset_version=opset,
        verbose=False,
    )
    onnx_program.save(str(path))
    return path


class OnnxNetwork:
    """Runs an exported ``.onnx`` network with onnxruntime, tensors in and out.

    Args:
        path: the ``.onnx`` file written by :func:`export_onnx`.
        providers: onnxruntime execution providers (default: CPU).
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(
        self, path: str | Path, providers: list[str] | None = None, threads: int | None = None
    ) -> None:
        ort = _require("onnxruntime")
        if not Path(path).is_file():
            raise FileNotFoundError(f"No ONNX model at '{path}'; write one with tools/export_model.py.")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(path), options, providers=providers or ["CPUExecutionProvider"]
        )
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != list(OUTPUT_NAMES):
            raise ValueError(
                f"'{path}' has inputs {inputs} and outputs {outputs}; expected [{INPUT_NAME!r}] and "
                f"{list(OUTPUT_NAMES)} (an ONNX file written by tools/export_model.py)."
            )

    def __call__(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images`` ``[B, 3, H, W]`` normalised -> ``(pred_logits, pred_masks)`` on ``images``' device."""
        feed = {INPUT_NAME: images.detach().to("cpu", torch.float32).contiguous().numpy()}
        pred_logits, pred_masks = self.session.run(list(OUTPUT_NAMES), feed)
        return torch.from_numpy(pred_logits).to(images.device), torch.from_numpy(pred_masks).to(images.device)
