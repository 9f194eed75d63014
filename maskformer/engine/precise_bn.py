"""``TEST.PRECISE_BN``: recompute BatchNorm statistics with fixed weights before evaluation.

Detectron2's ``PreciseBN`` hook: every ``TEST.EVAL_PERIOD`` iterations and after the last one
(before the evaluation hook runs), the running mean / variance of every BatchNorm layer in training
mode are replaced by the average of per-batch statistics over ``TEST.PRECISE_BN.NUM_ITER`` training
batches (fvcore's ``update_bn_stats``; "Rethinking Batch in BatchNorm", Sec. 3). The official models
have no such layer (frozen BN in ResNet, GroupNorm / LayerNorm elsewhere), so for them the hook is
not added; it matters for models built with ``BN`` / ``SyncBN`` norms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats
from torch import nn

from maskformer.utils.events import EventStorage

from .train_loop import HookBase

__all__ = ["PreciseBN", "get_bn_modules"]

logger = logging.getLogger(__name__)


class PreciseBN(HookBase):
    """Recomputes the BatchNorm statistics every ``period`` iterations and after the last one.

    Args:
        period: TEST.EVAL_PERIOD; <= 0 recomputes after the last iteration only.
        model: the model (possibly DDP-wrapped); its BatchNorm layers must be in training mode.
        build_data_loader: returns an iterable of training batches; called once, on first use.
        num_iter: TEST.PRECISE_BN.NUM_ITER, batches per recomputation.
    """

    def __init__(
        self, period: int, model: nn.Module, build_data_loader: Callable[[], Iterable[Any]], num_iter: int
    ) -> None:
        if num_iter < 1:
            raise ValueError(f"TEST.PRECISE_BN.NUM_ITER must be >= 1, got {num_iter}.")
        self._period = period
        self._model = model
        self._build_data_loader = build_data_loader
        self._num_iter = num_iter
        self._data_iter: Iterator[Any] | None = None

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if next_iter == self.trainer.max_iter or (self._period > 0 and next_iter % self._period == 0):
            self.update_stats()

    def update_stats(self) -> None:
        """Runs ``num_iter`` training batches through the model and sets the BN statistics."""
        if self._data_iter is None:
            # One iterator for the whole run: each recomputation sees new batches.
            self._data_iter = iter(self._build_data_loader())
        batches = (next(self._data_iter) for _ in range(self._num_iter))
        logger.info(f"Recomputing BatchNorm statistics over {self._num_iter} batches (TEST.PRECISE_BN).")
        with EventStorage(self.trainer.iter):  # whatever the model logs here is discarded
            update_bn_stats(self._model, batches, self._num_iter)
