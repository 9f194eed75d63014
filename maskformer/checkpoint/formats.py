"""Read checkpoint files (``.pkl``, ``.pth``, ``.safetensors``) without running code from them.

Every reader returns the same shape of dict: ``{"model": {name: Tensor}, ...other top-level
entries...}``. Our own ``.pth`` files keep ``optimizer``, ``iteration`` and the other training
state next to ``model``; Detectron2 model-zoo pickles keep ``__author__`` and
``matching_heuristics``; Caffe2 / MSRA ImageNet pickles (a bare dict of blobs) are wrapped the
way Detectron2 wraps them.

Pickles can execute arbitrary code when loaded, so ``.pkl`` files go through an unpickler that
admits only the globals needed to rebuild numpy arrays and plain containers.
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["load_checkpoint_file", "RestrictedUnpickler", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".pkl", ".pth", ".pt", ".safetensors")

# (module, name) pairs a Detectron2 / Caffe2 checkpoint pickle may reference. numpy 2 moved
# ``numpy.core`` to ``numpy._core``; pickles written by either version name their own module.
_NUMPY_CORES = ("numpy.core", "numpy._core")
_ALLOWED_GLOBALS = frozenset(
    [(core + ".multiarray", name) for core in _NUMPY_CORES for name in ("_reconstruct", "scalar")]
    + [(core + ".numeric", "_frombuffer") for core in _NUMPY_CORES]
    + [
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        # Protocol-2 pickles written by Python 3 encode ``bytes`` through ``_codecs.encode``.
        ("_codecs", "encode"),
    ]
)
# numpy dtype classes (``numpy.dtypes.Float32DType`` ...) are referenced by numpy >= 1.25 pickles.
_ALLOWED_MODULE_PREFIXES = ("numpy.dtypes",)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, numbers, strings, bytes and containers.

    Args:
        file: binary file object to read from.
        source: name of the file, used in error messages.
    """

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or module.startswith(_ALLOWED_MODULE_PREFIXES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to load '{self._source}': it references the global '{module}.{name}', which is "
            "not a numpy array, number, string or container, and loading it could run code. Only "
            "Detectron2/Caffe2-format checkpoints (dicts of numpy arrays) are read from .pkl files. "
            "If you trust this file, convert it yourself into a .pth state dict or a .safetensors file."
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(
            f"Refusing to load '{self._source}': it uses persistent ids, as torch.save does. "
            "Rename the file to .pth so that it is read with torch.load(weights_only=True)."
        )


def _to_tensor_dict(weights: dict[str, Any], source: str) -> dict[str, torch.Tensor]:
    """Convert the numpy arrays / numbers of a weights dict to tensors; drop other entries."""
    out: dict[str, torch.Tensor] = {}
    for name, value in weights.items():
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, np.ndarray):
            # np.array(...) copies read-only buffers (protocol-5 pickles) so torch owns writable memory.
            out[name] = torch.from_numpy(np.array(value))
        elif isinstance(value, (np.generic, int, float)) and not isinstance(value, bool):
            out[name] = torch.tensor(value)
        else:
            logger.debug("Skipping non-array entry '%s' (%s) of %s", name, type(value).__name__, source)
    return out


def _load_pkl(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        data = RestrictedUnpickler(f, path).load()
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' holds a {type(data).__name__}; expected a dict of weights.")
    if "model" in data and isinstance(data["model"], dict):
        out = dict(data)
        out["model"] = _to_tensor_dict(data["model"], path)
        out.setdefault("__author__", "unknown")
        return out
    # Caffe2 / Detectron1 / MSRA ImageNet pickles: detection models keep weights under "blobs".
    blobs = data.get("blobs", data)
    blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
    return {"model": _to_tensor_dict(blobs, path), "__author__": "Caffe2", "matching_heuristics": True}


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _load_pth(path: str) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f"Refusing to load '{path}' with torch.load(weights_only=True): {e}\n"
            "The file holds objects other than tensors and containers. If you trust it, re-save only "
            "its state dict: torch.save({'model': obj['model']}, 'clean.pth')."
        ) from e
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        return data
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        out = {k: v for k, v in data.items() if k != "state_dict"}
        out["model"] = data["state_dict"]
        return out
    if _is_state_dict(data):
        return {"model": dict(data)}
    raise ValueError(
        f"'{path}' is neither a state dict nor a dict with a 'model' or 'state_dict' entry "
        f"(top-level keys: {sorted(data)[:10] if isinstance(data, dict) else type(data).__name__})."
    )


def _load_safetensors(path: str) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(path, framework="pt", device="cpu") as f:
        model = {name: f.get_tensor(name) for name in f.keys()}
        metadata = f.metadata() or {}
    return {"model": model, "__metadata__": metadata}


def load_checkpoint_file(path: str) -> dict[str, Any]:
    """Read a checkpoint file safely.

    Args:
        path: a local ``.pkl`` (Detectron2 / Caffe2 pickle), ``.pth``/``.pt`` (``torch.save``) or
            ``.safetensors`` file.

    Returns:
        ``{"model": {name: Tensor}, ...}`` plus the file's other top-level entries (``optimizer``,
        ``iteration``, ``__author__``, ``matching_heuristics``, ...). numpy arrays are converted to
        tensors on the CPU.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown extension or unexpected content.
        pickle.UnpicklingError: the file references objects that could run code.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file '{path}' does not exist.")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pkl":
        return _load_pkl(path)
    if ext in (".pth", ".pt"):
        return _load_pth(path)
    if ext == ".safetensors":
        return _load_safetensors(path)
    raise ValueError(
        f"Cannot read checkpoint '{path}': unknown extension '{ext}'. "
        f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
    )
