"""Finding NaN / Inf values in named tensors (weights, gradients) to report them by name."""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["describe_names", "nonfinite_names"]


def nonfinite_names(named_tensors: Iterable[tuple[str, torch.Tensor | None]]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an Inf.

    Checks every tensor on its device with one host synchronisation in total.

    Args:
        named_tensors: ``(name, tensor)`` pairs, e.g. ``model.state_dict().items()`` or
            ``(name, p.grad)`` pairs; None and non-floating-point tensors are skipped.

    Returns:
        The names, in the given order (empty when everything is finite).
    """
    names, flags = [], []
    for name, tensor in named_tensors:
        if tensor is None or not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        names.append(name)
        flags.append(torch.isfinite(tensor.detach()).all())
    if not flags:
        return []
    finite = torch.stack([f.to(flags[0].device) for f in flags]).tolist()
    return [name for name, ok in zip(names, finite, strict=True) if not ok]


def describe_names(names: list[str], limit: int = 10) -> str:
    """``"a, b, c"``, or the first ``limit`` names and how many more there are."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
