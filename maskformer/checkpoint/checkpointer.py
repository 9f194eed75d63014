"""Saving and loading training state: model, optimizer, scheduler, iteration, scaler, RNG.

Files are written atomically (``maskformer.checkpoint.files``), so an interrupted save never leaves
a truncated checkpoint, and ``last_checkpoint`` (a one-line text file naming the newest checkpoint)
only ever points at a complete file; temporary files of interrupted saves are deleted when a
writing Checkpointer is created and after each save. Only the main process writes, but ``save``
must be called on every process: it gathers each process's RNG states, so that resuming with the
same number of processes restores every process's generators. A model with NaN / Inf values is
never saved. ``--resume`` picks its checkpoint with ``maskformer.checkpoint.resume`` and refuses a
checkpoint of a different architecture. ``.pth`` files are read with
``torch.load(weights_only=True)``; ``.pkl`` and ``.safetensors`` files (official model zoo,
ImageNet backbones) are read by ``maskformer.checkpoint.formats`` and their names mapped by
``maskformer.checkpoint.convert``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch import nn

from maskformer.utils import comm
from maskformer.utils.env import get_rng_states, set_rng_states
from maskformer.utils.nonfinite import describe_names, nonfinite_names

from .files import atomic_write, remove_stale_temporaries
from .resume import FORMAT_MARKER, LAST_CHECKPOINT, find_resume_checkpoint

__all__ = ["Checkpointer", "IncompatibleKeys", "load_model_state"]


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


def _compare_keys(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> IncompatibleKeys:
    """What ``load_model_state`` would report, without loading anything."""
    own = model.state_dict()
    mismatched = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    return IncompatibleKeys(missing, unexpected, mismatched)


def load_model_state(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> IncompatibleKeys:
    """Loads matching entries of ``state_dict`` into ``model``; skips shape mismatches.

    Args:
        model: the (unwrapped) model.
        state_dict: ``{name: tensor}`` with the model's parameter and buffer names.

    Returns:
        The keys that were missing, unexpected or of a different shape.
    """
    incompatible = _compare_keys(model, state_dict)
    skip = {k for k, _, _ in incompatible.shape_mismatch}
    model.load_state_dict({k: v for k, v in state_dict.items() if k not in skip}, strict=False)
    return incompatible


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

    Attributes:
        resumed_from: the checkpoint the last ``resume_or_load`` resumed from ("" if none).
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
        self.resumed_from = ""
        self._remove_temporaries()

    def _remove_temporaries(self) -> None:
        if self.save_dir and self.save_to_disk:
            for path in remove_stale_temporaries(self.save_dir):
                self.logger.info(f"Removed {path}, left by an interrupted save")

    def save(self, name: str, **extra: Any) -> str | None:
        """Writes ``<save_dir>/<name>.pth`` atomically and points ``last_checkpoint`` at it.

        With several processes every process must call it (it gathers their RNG states).

        Args:
            name: file name without extension, e.g. ``"model_0004999"``.
            **extra: more entries to store (e.g. ``iteration=4999``).

        Returns:
            The path written, or None on processes that do not write.

        Raises:
            FloatingPointError: the model holds NaN / Inf values (nothing is written).
            OSError: "no space left on <folder>" when the disk is full.
        """
        model_state = self.model.state_dict()
        bad = nonfinite_names(model_state.items())
        if bad:
            raise FloatingPointError(
                f"Not saving checkpoint {name}: {len(bad)} of {len(model_state)} model tensors hold NaN or "
                f"Inf ({describe_names(bad)}). The previous checkpoints are kept."
            )
        rng = get_rng_states()
        rng_per_rank = comm.gather(rng) if comm.get_world_size() > 1 else [rng]
        if not self.save_dir or not self.save_to_disk:
            return None
        data: dict[str, Any] = {"model": model_state, FORMAT_MARKER: 1, "rng": rng_per_rank}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(extra)
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info(f"Saving checkpoint to {path}")
        atomic_write(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(os.path.basename(path))
        self._remove_temporaries()
        return path

    def tag_last_checkpoint(self, basename: str) -> None:
        """Atomically rewrites ``last_checkpoint`` to name ``basename``."""
        atomic_write(os.path.join(self.save_dir, LAST_CHECKPOINT), lambda f: f.write(basename.encode()))

    def has_checkpoint(self) -> bool:
        """Whether ``save_dir`` has a ``last_checkpoint`` pointing at an existing file."""
        path = self.get_checkpoint_file()
        return bool(path) and os.path.isfile(path)

    def get_checkpoint_file(self) -> str:
        """The newest checkpoint named by ``last_checkpoint``; "" when there is none."""
        pointer = os.path.join(self.save_dir, LAST_CHECKPOINT)
        if not self.save_dir or not os.path.isfile(pointer):
            return ""
        with open(pointer) as f:
            return os.path.join(self.save_dir, f.read().strip())

    def resume_or_load(self, path: str, *, resume: bool = True, restore_rng: bool = True) -> dict[str, Any]:
        """Resumes from the newest loadable checkpoint of ``save_dir`` if ``resume``, else loads weights.

        The checkpoint is the one ``last_checkpoint`` names, or, when that is missing or cannot be
        read, the newest loadable ``*.pth`` (with a warning; see ``maskformer.checkpoint.resume``).

        Args:
            path: weights to load when not resuming (MODEL.WEIGHTS); "" loads nothing.
            resume: whether to look for a checkpoint in ``save_dir`` first.
            restore_rng: when resuming, restore the RNG states now; if False they are returned
                under ``"rng"`` for the caller to restore later (``restore_rng(states)``).

        Returns:
            The checkpoint's remaining entries (e.g. ``{"iteration": 4999}`` when resuming).

        Raises:
            RuntimeError: ``save_dir`` holds checkpoints but none loads, or the checkpoint was
                saved by a model of another architecture (mismatched keys are named).
        """
        self.resumed_from = ""
        found = find_resume_checkpoint(self.save_dir) if resume else None
        if found is None:
            return self.load(path, checkpointables=[])
        self.resumed_from, data = found
        data.pop(FORMAT_MARKER)
        self.logger.info(f"Resuming from {self.resumed_from}")
        self._load_model(self.resumed_from, data.pop("model"), strict=True)
        return self._restore(self.resumed_from, data, None, restore_rng)

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
        self._load_model(path, data.pop("model"), strict=False)
        return self._restore(path, data, checkpointables, restore_rng)

    def _load_model(self, path: str, state_dict: dict[str, torch.Tensor], *, strict: bool) -> None:
        """Loads model weights; warns about NaN / Inf values and, unless ``strict``, about mismatches.

        Raises:
            RuntimeError: ``strict`` and some keys are missing, unexpected or of another shape.
        """
        bad = nonfinite_names(state_dict.items())
        if bad:
            self.logger.warning(
                f"{path}: {len(bad)} of {len(state_dict)} tensors hold NaN or Inf ({describe_names(bad)})."
            )
        if strict:
            incompatible = _compare_keys(self.model, state_dict)
            if incompatible.report():
                raise RuntimeError(
                    f"Cannot resume from {path}: it was saved by a model of another architecture "
                    f"(the config changed since?):\n{incompatible.report()}\nResume with the config "
                    "of that run, or start a new OUTPUT_DIR (MODEL.WEIGHTS can load matching weights)."
                )
        incompatible = load_model_state(self.model, state_dict)
        if incompatible.report():
            self.logger.warning(f"While loading {path}:\n{incompatible.report()}")

    def _restore(
        self, path: str, data: dict[str, Any], checkpointables: list[str] | None, restore_rng: bool
    ) -> dict[str, Any]:
        """Restores the chosen checkpointables (and RNG) from ``data``; returns what is left."""
        names = list(self.checkpointables) if checkpointables is None else checkpointables
        for key in names:
            if key in data:
                self.logger.info(f"Loading {key} from {path}")
                self.checkpointables[key].load_state_dict(data.pop(key))
        if restore_rng and "rng" in data:
            self.restore_rng(data.pop("rng"))
        return data

    def restore_rng(self, states: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Restores each process's saved RNG states when the number of processes is unchanged.

        Args:
            states: one state per process (rank order), as saved; a single dict (files of
                earlier versions, which saved the main process's states only) counts as one.
        """
        per_rank = [states] if isinstance(states, dict) else list(states)
        world_size = comm.get_world_size()
        if len(per_rank) == world_size:
            set_rng_states(per_rank[comm.get_rank()])
        else:
            self.logger.warning(
                f"The checkpoint holds the RNG states of {len(per_rank)} process(es), this run has "
                f"{world_size}: RNG states are not restored (each process keeps its seeded state)."
            )

    def _read(self, path: str) -> dict[str, Any]:
        """The file's content as a dict with a ``"model"`` state dict in our parameter names."""
        if path.endswith(".pth"):
            from .formats import read_torch_file

            data = read_torch_file(path)
            if not isinstance(data, dict):
                raise ValueError(f"Checkpoint {path!r} holds a {type(data).__name__}, expected a dict.")
            if data.pop(FORMAT_MARKER, None):
                return data
            if "model" not in data:  # a bare state dict (torchvision, timm)
                data = {"model": data}
        else:
            from .formats import load_checkpoint_file

            data = load_checkpoint_file(path)
        from .convert import align_state_dict

        data["model"] = align_state_dict(data["model"], self.model)
        return data

