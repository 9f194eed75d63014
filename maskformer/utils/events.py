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

from maskformer.utils.disk import explain_disk_full

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


def _drop_lines_from(json_file: str, first_iter: int) -> None:
    """Removes the lines of iterations >= ``first_iter`` (left by a run that was resumed earlier)."""
    if not os.path.isfile(json_file):
        return
    with open(json_file) as f:
        lines = f.read().splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("iteration", -1) < first_iter]
    if len(kept) == len(lines):
        return
    tmp = json_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(line + "\n" for line in kept))
    os.replace(tmp, json_file)


class JSONWriter(EventWriter):
    """Appends one JSON dict per iteration (``{"iteration": i, name: value, ...}``) to a file.

    Only iterations not written before are written, so each line is a distinct iteration. On its
    first write it drops the file's lines of iterations at or after the first one it writes: a
    resumed run replaces what the interrupted run logged after its last checkpoint.
    """

    def __init__(self, json_file: str, window_size: int = 20) -> None:
        self._path = json_file
        self._file = None
        self._window_size = window_size
        self._last_write = -1

    def write(self) -> None:
        """Appends the new iterations.

        Raises:
            OSError: "no space left on <folder>" when the disk is full.
        """
        storage = get_event_storage()
        by_iter: dict[int, dict[str, float]] = defaultdict(dict)
        for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items():
            if itr > self._last_write:
                by_iter[itr][name] = value
        with explain_disk_full(self._path):
            if self._file is None:
                if by_iter:
                    _drop_lines_from(self._path, min(by_iter))
                self._file = open(self._path, "a")  # noqa: SIM115 - kept open for the whole run
            for itr in sorted(by_iter):
                self._file.write(json.dumps({"iteration": itr, **by_iter[itr]}, sort_keys=True) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        if by_iter:
            self._last_write = max(by_iter)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class TensorboardXWriter(EventWriter):
    """Writes all scalars to TensorBoard event files in ``log_dir``.

    The event file is opened on the first write with ``purge_step`` at the first iteration
    written, so a resumed run hides what the interrupted run logged after its last checkpoint.

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
        self._summary_writer = SummaryWriter
        self._log_dir = log_dir
        self._window_size = window_size
        self._writer = None
        self._last_write = -1

    def write(self) -> None:
        storage = get_event_storage()
        new = [
            (name, value, itr)
            for name, (value, itr) in storage.latest_with_smoothing_hint(self._window_size).items()
            if itr > self._last_write
        ]
        if not new:
            return
        if self._writer is None:
            self._writer = self._summary_writer(self._log_dir, purge_step=min(itr for _, _, itr in new))
        for name, value, itr in new:
            self._writer.add_scalar(name, value, itr)
        self._last_write = max(itr for _, _, itr in new)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _max_memory_mb() -> float:
    """Peak memory of this process in MiB: CUDA allocator peak if on GPU, else peak RSS."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def robust_mean(values: list[float], trim: float = 0.1) -> float:
    """Mean of ``values`` without the lowest and highest ``trim`` fraction (outliers: a checkpoint
    save, a swap-in, the first slow iterations)."""
    ordered = sorted(values)
    cut = int(len(ordered) * trim)
    kept = ordered[cut : len(ordered) - cut] or ordered
    return sum(kept) / len(kept)


def _is_auxiliary(name: str) -> bool:
    """``loss_ce_3`` (a loss of an intermediate decoder layer) is auxiliary; ``loss_ce`` is not."""
    return name.rsplit("_", 1)[-1].isdigit()


class CommonMetricPrinter(EventWriter):
    """Logs iteration, ETA, losses, throughput, time/iter, data time, lr and peak memory.

    The console line shows the final layer's losses, ``total_loss`` and the sum of the auxiliary
    (intermediate-layer) losses as ``loss_aux``; every loss is still in metrics.json and
    TensorBoard. The ETA is the remaining iterations times a trimmed mean of the last
    ``eta_window`` iteration times, plus the remaining evaluations times the last one's duration
    (``eval_time``; before the first evaluation the line says how many are still to come).

    Args:
        max_iter: iterations of the run.
        window_size: iterations over which losses and times are smoothed.
        ims_per_batch: images per iteration over all processes (for images/s; None: not shown).
        eval_period: TEST.EVAL_PERIOD (<= 0: one evaluation, after training; None: none counted).
        eta_window: iterations whose times estimate the ETA.
    """

    def __init__(
        self,
        max_iter: int,
        window_size: int = 20,
        ims_per_batch: int | None = None,
        eval_period: int | None = None,
        eta_window: int = 100,
    ) -> None:
        self.logger = logging.getLogger("maskformer.utils.events")
        self._max_iter = max_iter
        self._window_size = window_size
        self._ims_per_batch = ims_per_batch
        self._eval_period = eval_period
        self._eta_window = eta_window
        self._last_write: tuple[int, float] | None = None

    def _remaining_evals(self, iteration: int) -> int:
        """Evaluations after this iteration: periodic ones (not at the end), then the final one."""
        if self._eval_period is None:
            return 0
        if self._eval_period <= 0:
            return 1
        future = range(iteration + 2, self._max_iter)
        return sum(1 for n in future if n % self._eval_period == 0) + 1

    def _iteration_seconds(self, storage: EventStorage) -> float | None:
        try:
            values = [v for v, _ in storage.history("time").values()[-self._eta_window :]]
            return robust_mean(values)
        except KeyError:
            # Without an IterationTimer estimate from wall time between two writes.
            seconds, now = None, time.perf_counter()
            if self._last_write is not None:
                last_iter, last_time = self._last_write
                seconds = (now - last_time) / max(storage.iter - last_iter, 1)
            self._last_write = (storage.iter, now)
            return seconds

    def _eta(self, storage: EventStorage, per_iter: float | None) -> str:
        if per_iter is None:
            return "N/A"
        seconds = per_iter * (self._max_iter - storage.iter - 1)
        evals = self._remaining_evals(storage.iter)
        suffix = ""
        if evals:
            try:
                seconds += evals * storage.history("eval_time").latest()
            except KeyError:
                suffix = f" + {evals} evaluation{'s' if evals > 1 else ''}"
        return str(datetime.timedelta(seconds=int(seconds))) + suffix

    def _avg(self, storage: EventStorage, name: str) -> str:
        try:
            return f"{storage.history(name).avg(self._window_size):.4f}"
        except KeyError:
            return "N/A"

    def _losses(self, storage: EventStorage) -> str:
        medians = {k: v.median(self._window_size) for k, v in storage.histories().items() if "loss" in k}
        auxiliary = [v for k, v in medians.items() if _is_auxiliary(k)]
        parts = [f"{k}: {v:.4g}" for k, v in medians.items() if not _is_auxiliary(k)]
        if auxiliary:
            parts.append(f"loss_aux: {sum(auxiliary):.4g} ({len(auxiliary)} terms)")
        return "  ".join(parts)

    def write(self) -> None:
        storage = get_event_storage()
        iteration = storage.iter
        if iteration == self._max_iter:
            return  # after training the last step is already reported
        try:
            lr = f"{storage.history('lr').latest():.5g}"
        except KeyError:
            lr = "N/A"
        per_iter = self._iteration_seconds(storage)
        throughput = ""
        if self._ims_per_batch and per_iter:
            throughput = f"  images/s: {self._ims_per_batch / per_iter:.3g}"
        self.logger.info(
            f"eta: {self._eta(storage, per_iter)}  iter: {iteration}  {self._losses(storage)}{throughput}  "
            f"time: {self._avg(storage, 'time')}  data_time: {self._avg(storage, 'data_time')}  lr: {lr}  "
            f"max_mem: {_max_memory_mb():.0f}M"
        )
