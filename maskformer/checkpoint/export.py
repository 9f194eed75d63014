"""Export model weights (only the weights) to a plain ``.pth`` or a ``.safetensors`` file."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

__all__ = ["export_model", "model_state_dict"]


def model_state_dict(model_or_state_dict: nn.Module | dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights of a model, a state dict, or a training checkpoint (``{"model": ..., ...}``).

    Args:
        model_or_state_dict: an ``nn.Module`` (a DistributedDataParallel wrapper is unwrapped),
            a state dict, or a checkpoint dict holding the state dict under ``"model"``.

    Returns:
        name -> detached contiguous CPU tensor.
    """
    if isinstance(model_or_state_dict, nn.Module):
        module = getattr(model_or_state_dict, "module", model_or_state_dict)
        state = module.state_dict()
    elif isinstance(model_or_state_dict.get("model"), dict):
        state = model_or_state_dict["model"]
    else:
        state = model_or_state_dict
    out = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Cannot export entry '{name}' of type {type(value).__name__}: only tensors can be exported."
            )
        out[name] = value.detach().cpu().contiguous()
    return out


def export_model(model_or_state_dict: nn.Module | dict[str, Any], path: str) -> str:
    """Write only the model weights to ``path``.

    ``.pth``/``.pt``: ``torch.save({"model": state_dict})``, readable with
    ``torch.load(weights_only=True)`` and by our ``Checkpointer``. ``.safetensors``: one tensor per
    name (tensors that share memory are copied, as the format requires).

    Args:
        model_or_state_dict: see ``model_state_dict``.
        path: output file; its extension picks the format. Parent folders are created.

    Returns:
        ``path``.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".pth", ".pt", ".safetensors"):
        raise ValueError(f"Cannot export to '{path}': use a .pth, .pt or .safetensors file name.")
    state = model_state_dict(model_or_state_dict)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    if ext == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.clone() for k, v in state.items()}, tmp, metadata={"format": "pt"})
    else:
        torch.save({"model": state}, tmp)
    # Write-then-rename: an interrupted export never leaves a truncated file under the final name.
    os.replace(tmp, path)
    return path
