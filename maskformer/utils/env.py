"""Environment helpers: seeding, RNG state capture/restore, environment report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
from datetime import datetime
from typing import Any

import numpy as np
import torch

__all__ = ["collect_env_info", "get_rng_states", "seed_all_rng", "set_rng_states"]


def seed_all_rng(seed: int | None = None) -> int:
    """Seeds Python's ``random``, NumPy's and torch's global generators.

    Args:
        seed: the seed; None draws one from the pid, time and OS entropy.

    Returns:
        The seed used.
    """
    if seed is None:
        seed = (os.getpid() + int(datetime.now().strftime("%S%f")) + int.from_bytes(os.urandom(2), "big")) % (
            2**31
        )
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_rng_states() -> dict[str, Any]:
    """Snapshot of the global generators as plain types and tensors (``weights_only``-loadable).

    Returns:
        ``{"python": tuple, "numpy": dict, "torch": ByteTensor, "cuda": list[ByteTensor]}``.
    """
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _as_tuple(obj: Any) -> Any:
    """Lists back to tuples (Python's ``random.setstate`` insists on tuples)."""
    return tuple(_as_tuple(x) for x in obj) if isinstance(obj, list | tuple) else obj


def set_rng_states(states: dict[str, Any]) -> None:
    """Restores generators captured by ``get_rng_states`` (CUDA only if both sides have it)."""
    random.setstate(_as_tuple(states["python"]))
    np_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def collect_env_info() -> str:
    """A multi-line report of Python, platform, torch/CUDA and key library versions."""
    import torchvision

    lines = [
        f"sys.platform: {sys.platform} ({platform.platform()})",
        f"Python: {sys.version.split()[0]}",
        f"numpy: {np.__version__}",
        f"torch: {torch.__version__} @ {os.path.dirname(torch.__file__)}",
        f"torchvision: {torchvision.__version__}",
        f"CUDA available: {torch.cuda.is_available()}",
        f"torch CUDA build: {torch.version.cuda}",
        f"cuDNN: {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'N/A'}",
        f"CPU threads: {torch.get_num_threads()}",
    ]
    for i in range(torch.cuda.device_count()):
        lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}")
    # Read versions from the installed distributions' metadata: importing timm & co. just to
    # print a version would add seconds to every process start.
    for name in ("fvcore", "iopath", "pycocotools", "timm", "opencv-python-headless", "scipy"):
        try:
            lines.append(f"{name}: {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}: not installed")
    return "\n".join(lines)
