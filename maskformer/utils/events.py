"""Training metrics: an ``EventStorage`` of scalar histories and the writers that report them.

The trainer opens one ``EventStorage`` for the whole run; anything running inside it (the train
step, hooks, the model itself) calls ``get_event_storage().put_scalar(...)``. Writers read the
storage periodically: ``CommonMetricPrinter`` (console), ``JSONWriter`` (``metrics.json``, one
dict per line) and ``TensorboardXWriter`` (optional ``tensorboard`` dependency).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import resource
import time
from collections import defaultdict
from typing import Any

import torch
from fvcore.common.history_buffer import HistoryBuffer

__all__ = [
    "CommonMetricPrinter",
    "EventStorage",
    "EventWriter",
    "JSONWriter",
    "TensorboardXWriter",
    "get_event_storage",
]

_CURRENT_STORAGE_STACK: list[EventStorage] = []


def get_event_storage() -> EventStorage:
    """The innermost open ``EventStorage``.

    Raises:
        RuntimeError: when called outside ``with EventStorage():``.
    """
    if not _CURRENT_STORAGE_STACK:
        raise RuntimeError("get_event_storage() must be called inside a 'with EventStorage(...):' block.")
    return _CURRENT_STORAGE_STACK[-1]


class EventStorage:
    """Per-run store of scalar histories, keyed by name, with the iteration they belong to."""

    def __init__(self, start_iter: int = 0) -> None:
        self._history: dict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._smoothing_hints: dict[str, bool] = {}
        self._latest_scalars: dict[str, tuple[float, int]] = {}
        self._iter = start_iter

    def put_scalar(self, name: str, value: float | torch.Tensor, smoothing_hint: bool = True) -> None:
        """Records ``value`` for ``name`` at the current iteration.

        Args:
            name: metric name, e.g. ``"loss_ce"`` or ``"sem_seg/mIoU"``.
            value: a Python number or a one-element tensor.
            smoothing_hint: whether writers should report a windowed median instead of the latest.
        """
        value = float(value)
        self._history[name].update(value, self._iter)
        self._latest_scalars[name] = (value, self._iter)
        previous = self._smoothing_hints.get(name)
        if previous is not None and previous != smoothing_hint:
            raise ValueError(f"Scalar {name!r} was put with different smoothing hints.")
        self._smoothing_hints[name] = smoothing_hint

    def put_scalars(self, *, smoothing_hint: bool = True, **kwargs: float) -> None:
        """``put_scalar`` for each keyword argument."""
        for name, value in kwargs.items():
            self.put_scalar(name, value, smoothing_hint=smoothing_hint)

    def history(self, name: str) -> HistoryBuffer:
        """The ``HistoryBuffer`` of ``name``; KeyError naming the known metrics if absent."""
        if name not in self._history:
            raise KeyError(f"No history for metric {name!r}; known: {sorted(self._history)}")
        return self._history[name]

    def histories(self) -> dict[str, HistoryBuffer]:
        return dict(self._history)

    def latest(self) -> dict[str, tuple[float, int]]:
        """``{name: (latest value, iteration it was put at)}``."""
        return dict(self._latest_scalars)

    def latest_with_smoothing_hint(self, window_size: int = 20) -> dict[str, tuple[float, int]]:
        """Like ``latest`` but smoothed metrics are the median of their last ``window_size`` values."""
        result = {}
        for name, (value, itr) in self._latest_scalars.items():
            if self._smoothing_hints[name]:
                value = self._history[name].median(window_size)
            result[name] = (value, itr)
        return result

    def smoothing_hints(self) -> dict[str, bool]:
        return dict(self._smoothing_hints)

    def step(self) -> None:
        """Moves to the next iteration (called by the trainer after each step)."""
        self._iter += 1

    @property
    def iter(self) -> int:
        return self._iter

    @iter.setter
    def iter(self, value: int) -> None:
        self._iter = int(value)

    def __enter__(self) -> EventStorage:
        _CURRENT_STORAGE_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert _CURRENT_STORAGE_STACK[-1] is self
        _CURRENT_STORAGE_STACK.pop()


class EventWriter:
    """Base class of writers; ``write()`` is called periodically inside an ``EventStorage``."""

    def write(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class JSONWriter(EventWriter):
    """Appends one JSON dict per iteration (``{"iteration": i, name: value, ...}``) to a file.

    Only iterations not written before are written, so each line is a distinct iteration.
    """

    def __init__(self, json_file: str, window_size: int = 20) -> None:
        self._file = open(json_file, "a")  # noqa: SIM115 - kept open for the whole run
        self._window_size = window_size
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        by_iter: dict[int, dict[str, float]] = defaultdict(dict)
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                by_iter[itr][name] = value
        for itr in sorted(by_iter):
            self._file.write(json.dumps({"iteration": itr, **by_iter[itr]}, sort_keys=True) + "\n")
        if by_iter:
            self._last_write = max(by_iter)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class TensorboardXWriter(EventWriter):
    """Writes all scalars to TensorBoard event files in ``log_dir``.

    Raises:
        ImportError: with installation instructions when ``tensorboard`` is not installed.
    """

    def __init__(self, log_dir: str, window_size: int = 20) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "TensorBoard logging needs the 'tensorboard' package: `pip install tensorboard` "
                "(or train without the TensorBoard writer)."
            ) from e
        self._window_size = window_size
        self._writer = SummaryWriter(log_dir)
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        new_last = self._last_write
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                self._writer.add_scalar(name, value, itr)
                new_last = max(new_last, itr)
        self._last_write = new_last

    def close(self) -> None:
        self._writer.close()


def _max_memory_mb() -> float:
    """Peak memory of this process in MiB: CUDA allocator peak if on GPU, else peak RSS."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class CommonMetricPrinter(EventWriter):
    """Logs iteration, ETA, losses, time/iter, data time, lr and peak memory to the console."""

    def __init__(self, max_iter: int, window_size: int = 20) -> None:
        self.logger = logging.getLogger("maskformer.utils.events")
        self._max_iter = max_iter
        self._window_size = window_size
        self._last_write: tuple[int, float] | None = None

    def _eta(self, storage: EventStorage) -> str:
        iteration = storage.iter
        remaining = self._max_iter - iteration - 1
        try:
            seconds = storage.history("time").median(1000) * remaining
        except KeyError:
            # Without an IterationTimer estimate from wall time between two writes.
            seconds = None
            if self._last_write is not None:
                last_iter, last_time = self._last_write
                seconds = (time.perf_counter() - last_time) / max(iteration - last_iter, 1) * remaining
            self._last_write = (iteration, time.perf_counter())
        if seconds is None:
            return "N/A"
        return str(datetime.timedelta(seconds=int(seconds)))

    def _avg(self, storage: EventStorage, name: str) -> str:
        try:
            return f"{storage.history(name).avg(self._window_size):.4f}"
        except KeyError:
            return "N/A"

    def write(self) -> None:
        storage = get_event_storage()
        iteration = storage.iter
        if iteration == self._max_iter:
            return  # after training the last step is already reported
        losses = "  ".join(
            f"{k}: {v.median(self._window_size):.4g}" for k, v in storage.histories().items() if "loss" in k
        )
        try:
            lr = f"{storage.history('lr').latest():.5g}"
        except KeyError:
            lr = "N/A"
        self.logger.info(
            f"eta: {self._eta(storage)}  iter: {iteration}  {losses}  time: {self._avg(storage, 'time')}  "
            f"data_time: {self._avg(storage, 'data_time')}  lr: {lr}  max_mem: {_max_memory_mb():.0f}M"
        )
