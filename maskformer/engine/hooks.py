"""Training hooks: timing, LR scheduling, periodic checkpoints, evaluation and metric writing.

``Trainer.build_hooks`` registers them in the order IterationTimer, LRScheduler,
PeriodicCheckpointer, EvalHook, PeriodicWriter: after each step the LR is advanced before the
checkpoint is written (so a resumed scheduler continues at the next iteration), and evaluation
results are in storage before the writers run.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from maskformer.checkpoint import Checkpointer
from maskformer.evaluation.testing import flatten_results
from maskformer.utils import comm
from maskformer.utils.events import EventWriter

from .train_loop import HookBase

__all__ = ["EvalHook", "IterationTimer", "LRScheduler", "PeriodicCheckpointer", "PeriodicWriter"]

logger = logging.getLogger(__name__)


class IterationTimer(HookBase):
    """Puts the duration of each step (``time``) in storage and logs the total at the end.

    Args:
        warmup_iter: number of first iterations excluded from the reported total speed.
    """

    def __init__(self, warmup_iter: int = 3) -> None:
        self._warmup_iter = warmup_iter
        self._step_start = 0.0
        self._train_start = 0.0
        self._timed_iters = 0
        self._timed_seconds = 0.0

    def before_train(self) -> None:
        self._train_start = time.perf_counter()

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        seconds = time.perf_counter() - self._step_start
        if self.trainer.iter - self.trainer.start_iter >= self._warmup_iter:
            self._timed_iters += 1
            self._timed_seconds += seconds
        self.trainer.storage.put_scalar("time", seconds)

    def after_train(self) -> None:
        total = time.perf_counter() - self._train_start
        done = self.trainer.iter - self.trainer.start_iter
        if self._timed_iters > 0:
            logger.info(
                f"Overall training speed: {self._timed_iters} iterations in "
                f"{datetime.timedelta(seconds=int(self._timed_seconds))} "
                f"({self._timed_seconds / self._timed_iters:.4f} s / it)"
            )
        logger.info(f"Total training time: {datetime.timedelta(seconds=int(total))} ({done} iterations)")


class LRScheduler(HookBase):
    """Steps the LR scheduler after every iteration and records the current ``lr``.

    Args:
        optimizer: the optimizer; the recorded lr is that of its group with the largest lr
            (the non-backbone lr when the backbone has a multiplier < 1).
        scheduler: a ``torch.optim.lr_scheduler.LRScheduler`` stepped once per iteration.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        self._optimizer = optimizer
        self.scheduler = scheduler

    def after_step(self) -> None:
        lr = max(group["lr"] for group in self._optimizer.param_groups)
        self.trainer.storage.put_scalar("lr", lr, smoothing_hint=False)
        self.scheduler.step()


class PeriodicCheckpointer(HookBase):
    """Saves ``<prefix>_<iter:07d>.pth`` every ``period`` iterations and ``<prefix>_final.pth``.

    Args:
        checkpointer: the Checkpointer to save with (it adds model, optimizer, ... and RNG).
        period: SOLVER.CHECKPOINT_PERIOD, in iterations.
        max_iter: the total number of iterations (the final save happens at the last one).
        max_to_keep: keep only this many periodic checkpoints (None: keep all); the final one is
            never deleted.
        file_prefix: file name prefix.
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        period: int,
        max_iter: int | None = None,
        max_to_keep: int | None = None,
        file_prefix: str = "model",
    ) -> None:
        if period <= 0:
            raise ValueError(f"SOLVER.CHECKPOINT_PERIOD must be > 0, got {period}.")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 or None, got {max_to_keep}.")
        self.checkpointer = checkpointer
        self.period = period
        self.max_iter = max_iter
        self.max_to_keep = max_to_keep
        self.file_prefix = file_prefix
        self._recent: list[str] = []

    def before_train(self) -> None:
        if self.max_iter is None:
            self.max_iter = self.trainer.max_iter

    def after_step(self) -> None:
        iteration = self.trainer.iter
        if (iteration + 1) % self.period == 0:
            path = self.checkpointer.save(f"{self.file_prefix}_{iteration:07d}", iteration=iteration)
            self._forget_old(path)
        if iteration >= self.max_iter - 1:
            self.checkpointer.save(f"{self.file_prefix}_final", iteration=iteration)

    def after_train(self) -> None:
        # Resumed from the checkpoint of the last iteration (e.g. killed while writing the final
        # one): no step runs, so write the final checkpoint here.
        if self.trainer.start_iter >= self.max_iter and self.trainer.iter >= self.max_iter:
            self.checkpointer.save(f"{self.file_prefix}_final", iteration=self.max_iter - 1)

    def _forget_old(self, path: str | None) -> None:
        """Deletes the oldest periodic checkpoints beyond ``max_to_keep`` (main process only)."""
        if path is None or self.max_to_keep is None:
            return
        self._recent.append(path)
        while len(self._recent) > self.max_to_keep:
            old = self._recent.pop(0)
            if os.path.isfile(old):
                os.remove(old)


class EvalHook(HookBase):
    """Runs ``eval_function()`` every ``eval_period`` iterations and after the last one.

    Its results (a nested dict of numbers, e.g. ``{"panoptic_seg": {"PQ": 50.1}}``) are put in
    storage as ``panoptic_seg/PQ`` so that the writers report them.

    Args:
        eval_period: TEST.EVAL_PERIOD; <= 0 evaluates only after training.
        eval_function: called with no arguments on every process; returns the results dict.
    """

    def __init__(self, eval_period: int, eval_function: Callable[[], Mapping[str, Any] | None]) -> None:
        self._period = eval_period
        self._func = eval_function

    def _do_eval(self) -> None:
        start = time.perf_counter()
        results = self._func()
        # Its duration, for the ETA of the evaluations still to come.
        self.trainer.storage.put_scalar("eval_time", time.perf_counter() - start, smoothing_hint=False)
        if results:
            if not isinstance(results, Mapping):
                raise TypeError(f"The eval function must return a dict, got {type(results).__name__}.")
            self.trainer.storage.put_scalars(**flatten_results(results), smoothing_hint=False)
        # Evaluation may take different time on different processes: realign them.
        comm.synchronize()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if self._period > 0 and next_iter % self._period == 0 and next_iter != self.trainer.max_iter:
            self._do_eval()

    def after_train(self) -> None:
        # Only when training completed (self.trainer.iter is max_iter then), not after a crash.
        if self.trainer.iter >= self.trainer.max_iter:
            self._do_eval()
        del self._func  # the closure may hold the model and data loaders


class PeriodicWriter(HookBase):
    """Calls every writer's ``write()`` every ``period`` iterations and at the end.

    Args:
        writers: EventWriters (console, JSON, TensorBoard).
        period: in iterations (LOG_PERIOD).
        first_write_after: also write once after this many iterations of this run, so that the
            first line (losses, ETA) comes early (None: only every ``period``).
    """

    def __init__(
        self, writers: list[EventWriter], period: int = 20, first_write_after: int | None = None
    ) -> None:
        if period <= 0:
            raise ValueError(f"LOG_PERIOD must be > 0, got {period}.")
        self._writers = writers
        self._period = period
        self._first = first_write_after

    def after_step(self) -> None:
        iteration = self.trainer.iter
        first = self._first is not None and iteration - self.trainer.start_iter + 1 == self._first
        if first or (iteration + 1) % self._period == 0 or iteration == self.trainer.max_iter - 1:
            for writer in self._writers:
                writer.write()

    def after_train(self) -> None:
        for writer in self._writers:
            writer.write()  # the final evaluation results arrive after the last after_step
            writer.close()
