"""Saving and loading training state: model, optimizer, scheduler, iteration, scaler, RNG.

Files are written atomically (a temporary file in the same directory, then ``os.replace``), so an
interrupted save never leaves a truncated checkpoint, and ``last_checkpoint`` (a one-line text
file naming the newest checkpoint) only ever points at a complete file. Only the main process
writes. ``.pth`` files are read with ``torch.load(weights_only=True)``; ``.pkl`` and
``.safetensors`` files (official model zoo, ImageNet backbones) are read by
``maskformer.checkpoint.formats`` and their names mapped by ``maskformer.checkpoint.convert``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import torch
from torch import nn

from maskformer.utils import comm
from maskformer.utils.env import get_rng_states, set_rng_states

__all__ = ["Checkpointer", "IncompatibleKeys", "load_model_state"]

_FORMAT_MARKER = "__maskformer_checkpoint__"  # our own files: names need no conversion
_LAST_CHECKPOINT = "last_checkpoint"


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class IncompatibleKeys:
    """What did not fit when loading a state dict into a model."""

    def __init__(self, missing: list[str], unexpected: list[str], shape_mismatch: list[tuple]) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.shape_mismatch = shape_mismatch  # (name, checkpoint shape, model shape)

    def report(self) -> str:
        """A readable multi-line summary; empty when everything matched."""
        lines = [f"Shape mismatch (skipped) {n}: file {a}, model {b}" for n, a, b in self.shape_mismatch]
        if self.missing:
            lines.append(f"Missing in checkpoint ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"Unexpected in checkpoint ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        return "\n".join(lines)


def load_model_state(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> IncompatibleKeys:
    """Loads matching entries of ``state_dict`` into ``model``; skips shape mismatches.

    Args:
        model: the (unwrapped) model.
        state_dict: ``{name: tensor}`` with the model's parameter and buffer names.

    Returns:
        The keys that were missing, unexpected or of a different shape.
    """
    own = model.state_dict()
    mismatched = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    skip = {k for k, _, _ in mismatched}
    result = model.load_state_dict({k: v for k, v in state_dict.items() if k not in skip}, strict=False)
    # Shape-mismatched keys are also reported as missing by load_state_dict; list them once.
    missing = [k for k in result.missing_keys if k not in skip]
    return IncompatibleKeys(missing, list(result.unexpected_keys), mismatched)


class Checkpointer:
    """Saves and restores a model and any number of objects with ``state_dict``/``load_state_dict``.

    Args:
        model: the model (possibly wrapped in DistributedDataParallel).
        save_dir: directory of checkpoints and of ``last_checkpoint``; "" disables saving.
        optimizer: optional optimizer to save/restore.
        scheduler: optional LR scheduler to save/restore.
        save_to_disk: whether this process writes (default: only the main process).
        **other_checkpointables: more objects to save/restore under their keyword name
            (e.g. ``trainer=`` for the iteration, hooks and grad scaler).
    """

    def __init__(
        self,
        model: nn.Module,
        save_dir: str = "",
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        save_to_disk: bool | None = None,
        **other_checkpointables: Any,
    ) -> None:
        self.model = _unwrap(model)
        self.save_dir = save_dir
        self.save_to_disk = comm.is_main_process() if save_to_disk is None else save_to_disk
        self.checkpointables: dict[str, Any] = {}
        if optimizer is not None:
            self.checkpointables["optimizer"] = optimizer
        if scheduler is not None:
            self.checkpointables["scheduler"] = scheduler
        self.checkpointables.update(other_checkpointables)
        self.logger = logging.getLogger(__name__)

    def save(self, name: str, **extra: Any) -> str | None:
        """Writes ``<save_dir>/<name>.pth`` atomically and points ``last_checkpoint`` at it.

        Args:
            name: file name without extension, e.g. ``"model_0004999"``.
            **extra: more entries to store (e.g. ``iteration=4999``).

        Returns:
            The path written, or None on processes that do not write.
        """
        if not self.save_dir or not self.save_to_disk:
            return None
        data: dict[str, Any] = {"model": self.model.state_dict(), _FORMAT_MARKER: 1, "rng": get_rng_states()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(extra)
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info(f"Saving checkpoint to {path}")
        _atomic_write(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(os.path.basename(path))
        return path

    def tag_last_checkpoint(self, basename: str) -> None:
        """Atomically rewrites ``last_checkpoint`` to name ``basename``."""
        _atomic_write(os.path.join(self.save_dir, _LAST_CHECKPOINT), lambda f: f.write(basename.encode()))

    def has_checkpoint(self) -> bool:
        """Whether ``save_dir`` has a ``last_checkpoint`` pointing at an existing file."""
        path = self.get_checkpoint_file()
        return bool(path) and os.path.isfile(path)

    def get_checkpoint_file(self) -> str:
        """The newest checkpoint named by ``last_checkpoint``; "" when there is none."""
        pointer = os.path.join(self.save_dir, _LAST_CHECKPOINT)
        if not self.save_dir or not os.path.isfile(pointer):
            return ""
        with open(pointer) as f:
            return os.path.join(self.save_dir, f.read().strip())

    def resume_or_load(self, path: str, *, resume: bool = True, restore_rng: bool = True) -> dict[str, Any]:
        """Resumes from ``last_checkpoint`` if ``resume`` and one exists, else loads model weights.

        Args:
            path: weights to load when not resuming (MODEL.WEIGHTS); "" loads nothing.
            resume: whether to look for ``last_checkpoint`` first.
            restore_rng: when resuming, restore the RNG states now; if False they are returned
                under ``"rng"`` for the caller to restore later (``restore_rng(states)``).

        Returns:
            The checkpoint's remaining entries (e.g. ``{"iteration": 4999}`` when resuming).
        """
        if resume and self.has_checkpoint():
            return self.load(self.get_checkpoint_file(), restore_rng=restore_rng)
        return self.load(path, checkpointables=[])

    def load(
        self, path: str, checkpointables: list[str] | None = None, *, restore_rng: bool = False
    ) -> dict[str, Any]:
        """Loads a checkpoint file into the model and the chosen checkpointables.

        Args:
            path: a ``.pth``, ``.pkl`` or ``.safetensors`` file, or a ``detectron2://`` /
                ``https://`` name resolved by ``maskformer.checkpoint.download``; "" does nothing.
            checkpointables: names of the objects to restore (None: all that the file has).
            restore_rng: also restore the Python/NumPy/torch RNG states saved with the file.

        Returns:
            The entries of the file that were not consumed (e.g. ``iteration``, and ``rng`` when
            not restored).

        Raises:
            FileNotFoundError: naming the path when it does not exist.
        """
        if not path:
            self.logger.info("No checkpoint given: the model keeps its initialisation.")
            return {}
        if not os.path.isfile(path) and "://" in path:  # detectron2://, https://: cached download
            from .download import resolve_weights_path

            path = resolve_weights_path(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Checkpoint {path!r} does not exist. Check MODEL.WEIGHTS / the path you passed, "
                "or download the file first."
            )
        self.logger.info(f"Loading checkpoint from {path}")
        data = self._read(path)
        incompatible = load_model_state(self.model, data.pop("model"))
        if incompatible.report():
            self.logger.warning(f"While loading {path}:\n{incompatible.report()}")
        names = list(self.checkpointables) if checkpointables is None else checkpointables
        for key in names:
            if key in data:
                self.logger.info(f"Loading {key} from {path}")
                self.checkpointables[key].load_state_dict(data.pop(key))
        if restore_rng and "rng" in data:
            self.restore_rng(data.pop("rng"))
        return data

    def restore_rng(self, states: dict[str, Any]) -> None:
        """Restores saved RNG states; with several processes each keeps its own seeded state.

        Only the main process's states are saved, so they are not applied to other processes.
        """
        if comm.get_world_size() == 1:
            set_rng_states(states)
        else:
            self.logger.info("Several processes: RNG states are not restored (each keeps its seeded state).")

    def _read(self, path: str) -> dict[str, Any]:
        """The file's content as a dict with a ``"model"`` state dict in our parameter names."""
        if path.endswith(".pth"):
            data = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(data, dict):
                raise ValueError(f"Checkpoint {path!r} holds a {type(data).__name__}, expected a dict.")
            if data.pop(_FORMAT_MARKER, None):
                return data
            if "model" not in data:  # a bare state dict (torchvision, timm)
                data = {"model": data}
        else:
            from .formats import load_checkpoint_file

            data = load_checkpoint_file(path)
        from .convert import align_state_dict

        data["model"] = align_state_dict(data["model"], self.model)
        return data


def _atomic_write(path: str, write: Any) -> None:
    """Calls ``write(file)`` on a temporary file next to ``path``, then renames it onto ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
