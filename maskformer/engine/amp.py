"""Mixed precision choices shared by training (``AMPTrainer``) and inference (evaluation, ``Predictor``).

``SOLVER.AMP.PRECISION`` names the autocast dtype: ``"bfloat16"`` runs on CPU and CUDA (fp32's
exponent range, so no gradient scaling), ``"float16"`` on CUDA only (with a GradScaler in
training). The precision-sensitive parts stay in float32 under autocast whatever the dtype: the
MSDeformAttn pixel decoder and the deformable sampling, the matcher, the losses, and the
post-processing (the model's predictions are cast to float32 before it).

Detectron2 evaluates in float32 even when training with AMP; ``TEST.AMP.ENABLED`` (default False)
opts evaluation and the ``Predictor`` into autocast with ``SOLVER.AMP.PRECISION``.
"""

from __future__ import annotations

import torch
from torch import nn

from maskformer.config import CfgNode

__all__ = ["AMP_PRECISIONS", "amp_dtype", "inference_amp_dtype", "inference_autocast"]

AMP_PRECISIONS = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def amp_dtype(precision: str, device_type: str, key: str = "SOLVER.AMP.ENABLED") -> torch.dtype:
    """The autocast dtype of ``precision`` on ``device_type``.

    Args:
        precision: ``SOLVER.AMP.PRECISION``.
        device_type: the model's device type ("cpu", "cuda", ...).
        key: the config switch that asked for autocast, named in the errors.

    Raises:
        ValueError: for an unknown precision, or float16 on a non-CUDA device (torch's CPU float16
            autocast exists but is slower than float32 on CPUs without fp16 arithmetic; bfloat16
            is the CPU choice).
    """
    if precision not in AMP_PRECISIONS:
        raise ValueError(f"SOLVER.AMP.PRECISION={precision!r} is unknown; use {sorted(AMP_PRECISIONS)}.")
    if precision == "float16" and device_type != "cuda":
        raise ValueError(
            f"{key} with SOLVER.AMP.PRECISION=float16 needs a CUDA device, the model is on {device_type}; "
            f"use SOLVER.AMP.PRECISION bfloat16 or {key} False."
        )
    return AMP_PRECISIONS[precision]


def inference_amp_dtype(cfg: CfgNode, device_type: str) -> torch.dtype | None:
    """The autocast dtype of evaluation and the ``Predictor``: None unless ``TEST.AMP.ENABLED``.

    Raises:
        ValueError: as :func:`amp_dtype`, naming ``TEST.AMP.ENABLED``.
    """
    if not cfg.TEST.AMP.ENABLED:
        return None
    return amp_dtype(cfg.SOLVER.AMP.PRECISION, device_type, key="TEST.AMP.ENABLED")


def inference_autocast(cfg: CfgNode, model: nn.Module) -> torch.autocast:
    """``torch.autocast`` on ``model``'s device, enabled with :func:`inference_amp_dtype`'s dtype if any."""
    device_type = next(model.parameters()).device.type if cfg.TEST.AMP.ENABLED else "cpu"
    dtype = inference_amp_dtype(cfg, device_type)
    return torch.autocast(device_type=device_type, dtype=dtype, enabled=dtype is not None)
