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

__all__ = ["load_checkpoint_file", "read_torch_file", "RestrictedUnpickler", "SUPPORTED_EXTENSIONS"]

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


def _unreadable(path: str, error: BaseException) -> ValueError:
    """The error for a checkpoint file that cannot be decoded (empty, truncated, not a checkpoint)."""
    reason = (str(error).splitlines() or [""])[0]
    return ValueError(
        f"Cannot read checkpoint '{path}' ({os.path.getsize(path)} bytes): {type(error).__name__}: {reason}. "
        "The file is empty, truncated or not a checkpoint (an interrupted download, copy or save leaves "
        "such a file). Fix: download or save it again."
    )


def _require_tensors(model: dict[str, Any], path: str) -> dict[str, Any]:
    """``model`` when it is a non-empty dict of tensors; else a ValueError naming the file."""
    if not model:
        raise ValueError(f"Checkpoint '{path}' holds no weights. Fix: point MODEL.WEIGHTS at a model file.")
    bad = [name for name, value in model.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(
            f"Checkpoint '{path}' has model entries that are not tensors: {bad[:5]} "
            f"({type(model[bad[0]]).__name__}). Fix: re-save the state dict (name -> tensor) of the model."
        )
    return model


def read_torch_file(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that name the file.

    Raises:
        pickle.UnpicklingError: the file holds objects other than tensors and containers.
        ValueError: the file is empty, truncated or not a ``torch.save`` file; or its ``model``
            entry holds something other than tensors.
    """
    if os.path.getsize(path) == 0:
        raise _unreadable(path, EOFError("the file is empty"))
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith((b"PK", b"\x80")):  # a zip archive (torch.save) or a legacy pickle
        raise _unreadable(path, ValueError(f"it starts with {head!r}, not a torch.save archive"))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f"Refusing to load '{path}' with torch.load(weights_only=True): {e}\n"
            "The file holds objects other than tensors and containers. If you trust it, re-save only "
            "its state dict: torch.save({'model': obj['model']}, 'clean.pth')."
        ) from e
    except (EOFError, RuntimeError, KeyError, ValueError) as e:
        raise _unreadable(path, e) from e
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        _require_tensors(data["model"], path)
    return data


def _load_pkl(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = RestrictedUnpickler(f, path).load()
    except (EOFError, ValueError, IndexError, KeyError) as e:
        raise _unreadable(path, e) from e
    if not isinstance(data, dict):
        raise ValueError(
            f"'{path}' holds a {type(data).__name__}; expected a dict of weights. Fix: point MODEL.WEIGHTS "
            "at a model checkpoint."
        )
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
    data = read_torch_file(path)
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
        f"(top-level keys: {sorted(data)[:10] if isinstance(data, dict) else type(data).__name__}). "
        "Fix: point MODEL.WEIGHTS at a model checkpoint, or re-save one as {'model': state_dict}."
    )


def _load_safetensors(path: str) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            model = {name: f.get_tensor(name) for name in f.keys()}
            metadata = f.metadata() or {}
    except SafetensorError as e:
        raise _unreadable(path, e) from e
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
        ValueError: unknown extension; an empty, truncated or undecodable file; no weights or
            non-tensor weights (each message names the file).
        pickle.UnpicklingError: the file references objects that could run code.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file '{path}' does not exist.")
    ext = os.path.splitext(path)[1].lower()
    loaders = {".pkl": _load_pkl, ".pth": _load_pth, ".pt": _load_pth, ".safetensors": _load_safetensors}
    if ext in loaders:
        data = loaders[ext](path)
        _require_tensors(data["model"], path)
        return data
    raise ValueError(
        f"Cannot read checkpoint '{path}': unknown extension '{ext}'. "
        f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
    )
