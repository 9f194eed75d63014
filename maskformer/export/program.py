"""``torch.export`` of the segmentation network, with dynamic height and width."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.export import ExportedProgram

from .network import SegmentationNetwork, dynamic_image_shape, example_images

__all__ = ["export_program", "load_program", "save_program"]


def export_program(
    network: SegmentationNetwork, height: int, width: int, max_size: int = 4096
) -> ExportedProgram:
    """Traces ``network`` into an ``ExportedProgram`` (eval mode, no gradients).

    The multi-scale deformable attention traces its ``grid_sample`` formulation; every other
    module traces as in eager mode. Height and width stay dynamic (multiples of the size
    divisibility up to ``max_size``) and so does the batch size.

    Args:
        network: the network to trace (put in eval mode).
        height: example height used for tracing.
        width: example width used for tracing.
        max_size: largest height / width the program accepts.

    Returns:
        The program; ``program.module()(images)`` returns ``(pred_logits, pred_masks)``.
    """
    network.eval()
    images = example_images(network, height, width)
    with torch.no_grad():
        return torch.export.export(
            network,
            (images,),
            dynamic_shapes=(dynamic_image_shape(network.size_divisibility, max_size),),
            strict=False,
        )


def save_program(program: ExportedProgram, path: str | Path) -> Path:
    """Writes ``program`` to ``path`` (``.pt2``, ``torch.export.save``)."""
    path = Path(path)
    if path.suffix != ".pt2":
        raise ValueError(f"torch.export programs are saved as .pt2 files, got '{path}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path))
    return path


def load_program(path: str | Path) -> ExportedProgram:
    """Reads a program written by :func:`save_program`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"No exported program at '{path}'; write one with tools/export_model.py.")
    return torch.export.load(str(path))
