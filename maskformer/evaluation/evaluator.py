"""The evaluator interface, a composite of evaluators, and inference over a whole dataset.

Distributed evaluation: every process runs the model on its shard of the dataset and feeds its
evaluators; ``evaluate()`` gathers what the evaluators kept to the main process (through
``maskformer.utils.comm.gather``), which computes the metrics. As in Detectron2, the main process
returns the nested result dict and **every other process returns an empty dict** ``{}``.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..utils import comm

__all__ = [
    "DatasetEvaluator",
    "DatasetEvaluators",
    "inference_on_dataset",
    "inference_context",
]

logger = logging.getLogger(__name__)

# Seconds between two progress lines in the log (the tqdm bar updates continuously).
_LOG_PERIOD_S = 5.0


class DatasetEvaluator:
    """Accumulates predictions over a dataset, then computes metrics.

    Subclasses implement ``reset`` (forget everything), ``process(inputs, outputs)`` (one batch:
    the model's input dicts and its output dicts, in the same order) and ``evaluate()``, which
    returns ``{task: {metric: value}}`` on the main process and ``{}`` on the others.
    """

    def reset(self) -> None:
        """Prepares for a new round of evaluation."""

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Consumes one batch of inputs and the model's outputs for them.

        Args:
            inputs: the model's input dicts; outputs: its result dicts, in the same order (both
                as in :mod:`maskformer.modeling.contract`).
        """

    def evaluate(self) -> dict[str, Any]:
        """Returns ``{task: {metric: value}}`` (main process) or ``{}`` (other processes)."""
        return {}


class DatasetEvaluators(DatasetEvaluator):
    """Runs several evaluators side by side and merges their result dicts.

    Args:
        evaluators: the evaluators; their result dicts must use distinct task keys.
    """

    def __init__(self, evaluators: Iterable[DatasetEvaluator]) -> None:
        self._evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self._evaluators:
            evaluator.reset()

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        for evaluator in self._evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> dict[str, Any]:
        results: dict[str, Any] = OrderedDict()
        for evaluator in self._evaluators:
            for task, value in (evaluator.evaluate() or {}).items():
                if task in results:
                    raise KeyError(
                        f"Two evaluators both report the task '{task}'; combine evaluators whose "
                        "result keys are distinct."
                    )
                results[task] = value
        return results

    def __len__(self) -> int:
        return len(self._evaluators)

    @property
    def evaluators(self) -> tuple[DatasetEvaluator, ...]:
        """The combined evaluators, in order."""
        return tuple(self._evaluators)


@contextmanager
def inference_context(model: nn.Module):
    """Puts ``model`` in eval mode for the block, then restores its previous training mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _sync_device() -> None:
    # CUDA runs asynchronously: wait for the kernels so that per-image timings are honest.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _log_summary(total_s: float, compute_s: float, num_images: int, num_warmup: int) -> None:
    """Logs total and pure-compute time per image, skipping the warm-up iterations."""
    counted = max(num_images - num_warmup, 1)
    world = comm.get_world_size()
    logger.info(
        "Total inference time: %s (%.6f s / iter per device, on %d devices)",
        datetime.timedelta(seconds=int(total_s)),
        total_s / counted,
        world,
    )
    logger.info(
        "Total inference pure compute time: %s (%.6f s / iter per device, on %d devices)",
        datetime.timedelta(seconds=int(compute_s)),
        compute_s / counted,
        world,
    )


def inference_on_dataset(
    model: nn.Module,
    data_loader: Iterable[list[dict[str, Any]]],
    evaluator: DatasetEvaluator | Sequence[DatasetEvaluator] | None,
) -> dict[str, Any]:
    """Runs ``model`` over ``data_loader`` and evaluates its outputs with ``evaluator``.

    The model runs under ``torch.no_grad`` in eval mode and gets its training mode back afterwards.
    On the main process a tqdm bar shows progress with an ETA; every few seconds a log line gives
    the per-image data / compute / evaluation time, and a summary is logged at the end. The first
    few iterations (up to 5) are left out of the timings as warm-up.

    Args:
        model: takes a list of input dicts and returns a list of output dicts (same order).
        data_loader: yields lists of input dicts (this process's shard of the dataset).
        evaluator: one evaluator, a list of them (combined), or None (only timings).

    Returns:
        The evaluator's results on the main process; ``{}`` on the other processes.
    """
    if evaluator is None:
        evaluator = DatasetEvaluators([])
    elif not isinstance(evaluator, DatasetEvaluator):
        evaluator = DatasetEvaluators(evaluator)
    evaluator.reset()
    total = len(data_loader) if hasattr(data_loader, "__len__") else None
    logger.info("Start inference on %s batches", total if total is not None else "an unknown number of")
    num_warmup = min(5, total - 1) if total else 5
    timers = {"data": 0.0, "compute": 0.0, "eval": 0.0}
    num_images = 0
    start_all = time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(inference_context(model))
        stack.enter_context(torch.no_grad())
        bar = stack.enter_context(tqdm(total=total, disable=not comm.is_main_process(), desc="inference"))
        last_log = time.perf_counter()
        start_data = time.perf_counter()
        for idx, inputs in enumerate(data_loader):
            if idx == num_warmup:
                # Restart the clocks once the warm-up iterations are done.
                start_all = time.perf_counter()
                timers = dict.fromkeys(timers, 0.0)
            timers["data"] += time.perf_counter() - start_data
            start_compute = time.perf_counter()
            outputs = model(inputs)
            _sync_device()
            timers["compute"] += time.perf_counter() - start_compute
            start_eval = time.perf_counter()
            evaluator.process(inputs, outputs)
            timers["eval"] += time.perf_counter() - start_eval
            num_images += 1
            bar.update(1)
            done = max(idx + 1 - num_warmup, 1)
            if time.perf_counter() - last_log > _LOG_PERIOD_S:
                last_log = time.perf_counter()
                _log_progress(idx + 1, total, timers, done, time.perf_counter() - start_all)
            start_data = time.perf_counter()
    _log_summary(time.perf_counter() - start_all, timers["compute"], num_images, num_warmup)
    results = evaluator.evaluate()
    # An evaluator may return None on non-main processes; normalise to the documented {}.
    return results if results is not None else {}


def _log_progress(done: int, total: int | None, timers: dict[str, float], timed: int, elapsed: float) -> None:
    """One progress line: per-iteration data / compute / eval time and the ETA."""
    per_iter = elapsed / timed
    eta = "?" if total is None else str(datetime.timedelta(seconds=int(per_iter * (total - done))))
    logger.info(
        "Inference done %d/%s. Dataloading: %.4f s/iter. Inference: %.4f s/iter. Eval: %.4f s/iter. "
        "Total: %.4f s/iter. ETA=%s",
        done,
        total if total is not None else "?",
        timers["data"] / timed,
        timers["compute"] / timed,
        timers["eval"] / timed,
        per_iter,
        eta,
    )
