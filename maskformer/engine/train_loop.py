"""The training loop: ``TrainerBase`` (iterations + hooks), ``SimpleTrainer``, ``AMPTrainer``.

``TrainerBase.train`` runs ``before_train``; then per iteration ``before_step``, ``run_step``,
``after_step``; then ``after_train``, calling each hook in registration order. ``SimpleTrainer``
implements the usual step: next batch, forward to a loss dict, sum, backward, gradient check,
(clip), optimizer step, each phase in a ``torch.profiler.record_function`` range ("train:data",
"train:forward", ...) that profiles show. A step whose gradients hold NaN / Inf is skipped and
counted (or stops training, naming the parameters; SOLVER.NONFINITE_GRADS), so that non-finite
values never reach the weights. ``AMPTrainer`` runs the forward pass under ``torch.autocast``
(fp16 with a GradScaler on CUDA, bf16 on CPU or CUDA, without a scaler; see ``amp.py``). Device
follows the model's parameters.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

from maskformer.solver import GradClipper
from maskformer.utils import comm
from maskformer.utils.events import EventStorage, get_event_storage
from maskformer.utils.nonfinite import describe_names, nonfinite_names

from .amp import amp_dtype

__all__ = ["AMPTrainer", "HookBase", "SimpleTrainer", "TrainerBase"]


class HookBase:
    """A callback run at fixed points of training; ``self.trainer`` is set on registration."""

    trainer: TrainerBase

    def before_train(self) -> None:
        """Called once before the first iteration."""

    def after_train(self) -> None:
        """Called once after the last iteration (also when training fails)."""

    def before_step(self) -> None:
        """Called before each iteration."""

    def after_step(self) -> None:
        """Called after each iteration."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint with the trainer (stateless hooks return {})."""
        return {}


class TrainerBase:
    """Iterates from ``start_iter`` to ``max_iter`` calling ``run_step`` and the hooks.

    Attributes:
        iter: the current iteration (the last finished one after training).
        start_iter, max_iter: the range ``[start_iter, max_iter)`` of iterations.
        storage: the ``EventStorage`` open during training.
    """

    def __init__(self) -> None:
        self._hooks: list[HookBase] = []
        self.iter = 0
        self.start_iter = 0
        self.max_iter = 0
        self.storage: EventStorage
        self.logger = logging.getLogger(__name__)

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Appends hooks (None entries are skipped); each gets a weak back-reference."""
        for h in hooks:
            if h is None:
                continue
            assert isinstance(h, HookBase), f"{type(h).__name__} is not a HookBase"
            # A weak proxy avoids a trainer <-> hook reference cycle keeping both alive.
            h.trainer = weakref.proxy(self)
            self._hooks.append(h)

    def train(self, start_iter: int, max_iter: int) -> None:
        """Runs iterations ``start_iter .. max_iter - 1``."""
        self.logger.info(f"Starting training from iteration {start_iter}")
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage:
            try:
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                # Marks training as complete (hooks check iter >= max_iter in after_train).
                self.iter = max(max_iter, start_iter)
            except Exception:
                self.logger.exception(f"Exception during training at iteration {self.iter}:")
                raise
            finally:
                self.after_train()

    def before_train(self) -> None:
        for h in self._hooks:
            h.before_train()

    def after_train(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.after_train()

    def before_step(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.before_step()

    def after_step(self) -> None:
        for h in self._hooks:
            h.after_step()

    def run_step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Iteration and hook states (hooks keyed by class name)."""
        hooks = {type(h).__qualname__: h.state_dict() for h in self._hooks}
        return {"iteration": self.iter, "hooks": {k: v for k, v in hooks.items() if v}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.iter = state_dict["iteration"]
        for h in self._hooks:
            saved = state_dict.get("hooks", {}).get(type(h).__qualname__)
            if saved and hasattr(h, "load_state_dict"):
                h.load_state_dict(saved)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


NONFINITE_GRAD_POLICIES = ("skip", "raise")


class SimpleTrainer(TrainerBase):
    """One optimizer step per iteration on the batch from ``data_loader``.

    Args:
        model: in training mode, ``model(batch) -> {name: scalar loss}`` (already weighted; see
            :mod:`maskformer.modeling.contract`).
        data_loader: an iterable of batches (infinite, or at least ``max_iter`` long); None to
            set it later through the ``data_loader`` attribute.
        optimizer: the optimizer.
        grad_clipper: called with the model parameters after backward, before the step.
        nonfinite_grads: when a gradient holds NaN / Inf: ``"skip"`` the optimizer step (logged,
            and counted in the ``nonfinite_grad_skips`` metric) or ``"raise"`` FloatingPointError
            naming the parameters. With DistributedDataParallel the gradients, and so the
            decision, are the same on every process.

    Raises:
        ValueError: for another ``nonfinite_grads`` value.
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable | None,
        optimizer: torch.optim.Optimizer,
        grad_clipper: GradClipper | None = None,
        nonfinite_grads: str = "skip",
    ) -> None:
        super().__init__()
        if nonfinite_grads not in NONFINITE_GRAD_POLICIES:
            raise ValueError(
                f"SOLVER.NONFINITE_GRADS = {nonfinite_grads!r} is not one of {NONFINITE_GRAD_POLICIES}."
            )
        model.train()
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self.grad_clipper = grad_clipper
        self.nonfinite_grads = nonfinite_grads
        self.nonfinite_grad_skips = 0

    @property
    def data_loader(self) -> Iterable | None:
        return self._data_loader

    @data_loader.setter
    def data_loader(self, loader: Iterable | None) -> None:
        """Replaces the data source; the next step starts a fresh iterator over it."""
        self._data_loader = loader
        self._data_iter: Any = None
        self._prefetched: list[Any] = []

    def next_batch(self) -> Any:
        """The next batch of ``data_loader`` (the prefetched one first, if any)."""
        if self._prefetched:
            return self._prefetched.pop()
        if self._data_iter is None:
            if self._data_loader is None:
                raise RuntimeError("No data: set trainer.data_loader before training.")
            self._data_iter = iter(self._data_loader)
        return next(self._data_iter)

    def prefetch_batch(self) -> None:
        """Fetches the next batch now; the next step uses it.

        Starting a data stream may draw from the global RNG (a DataLoader draws its base seed on
        its first batch). A resumed run prefetches before restoring the checkpoint's RNG state so
        that, as in the uninterrupted run, those draws precede the saved state.
        """
        if not self._prefetched:
            self._prefetched.append(self.next_batch())

    def forward_losses(self, data: Any) -> dict[str, torch.Tensor]:
        """``model(data)`` as a loss dict; checks that it is one."""
        with record_function("train:forward"):
            loss_dict = self.model(data)
        if isinstance(loss_dict, torch.Tensor):
            loss_dict = {"total_loss": loss_dict}
        if not isinstance(loss_dict, Mapping):
            raise TypeError(f"In training mode the model must return a loss dict, not {type(loss_dict)}.")
        return dict(loss_dict)

    def start_step(self) -> tuple[Any, float]:
        """Checks the model is training, draws the next batch and clears the gradients.

        Returns:
            The batch and the seconds spent waiting for it.
        """
        assert self.model.training, f"{type(self).__name__}: the model was switched to eval mode"
        start = time.perf_counter()
        with record_function("train:data"):
            data = self.next_batch()
        data_time = time.perf_counter() - start
        self.optimizer.zero_grad(set_to_none=True)
        return data, data_time

    def finish_step(
        self, losses: torch.Tensor, loss_dict: Mapping[str, torch.Tensor], data_time: float
    ) -> None:
        """Backward, gradient check, optional clipping, metrics, and the (unscaled) optimizer step."""
        with record_function("train:backward"):
            losses.backward()
        with record_function("train:clip_gradients"):
            finite = self.gradients_are_finite()
            if finite and self.grad_clipper is not None:
                self.grad_clipper(self.model.parameters())
        with record_function("train:metrics"):
            self.write_metrics(loss_dict, data_time)
        if finite:
            with record_function("train:optimizer"):
                self.optimizer.step()

    def gradients_are_finite(self) -> bool:
        """Whether every gradient is finite; otherwise counts a skipped step or raises (by policy).

        Raises:
            FloatingPointError: naming the parameters, when the policy is ``"raise"``.
        """
        model = self.model
        module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        bad = nonfinite_names((name, p.grad) for name, p in module.named_parameters())
        if not bad:
            return True
        names = describe_names(bad)
        message = f"Non-finite gradients at iteration {self.iter} in {len(bad)} parameters: {names}"
        if self.nonfinite_grads == "raise":
            raise FloatingPointError(f"{message}. (SOLVER.NONFINITE_GRADS 'skip' skips such steps instead.)")
        self.nonfinite_grad_skips += 1
        self.logger.warning(f"{message}; optimizer step skipped ({self.nonfinite_grad_skips} so far).")
        return False

    def run_step(self) -> None:
        data, data_time = self.start_step()
        loss_dict = self.forward_losses(data)
        self.finish_step(sum(loss_dict.values()), loss_dict, data_time)

    def write_metrics(self, loss_dict: Mapping[str, torch.Tensor], data_time: float) -> None:
        """Puts ``data_time`` (max over processes), every loss and ``total_loss`` (means) in storage.

        Raises:
            FloatingPointError: when the total loss is not finite.
        """
        metrics = {k: float(v.detach()) for k, v in loss_dict.items()}
        metrics["data_time"] = data_time
        all_metrics = comm.gather(metrics)
        if not comm.is_main_process():
            return
        storage = get_event_storage()
        storage.put_scalar("data_time", max(m.pop("data_time") for m in all_metrics))
        means = {k: sum(m[k] for m in all_metrics) / len(all_metrics) for k in all_metrics[0]}
        total = sum(means.values())
        if not torch.isfinite(torch.tensor(total)):
            raise FloatingPointError(
                f"Loss became infinite or NaN at iteration={storage.iter}! loss_dict = {means}"
            )
        storage.put_scalar("total_loss", total)
        if len(means) > 1:
            storage.put_scalars(**means)
        if self.nonfinite_grad_skips:
            storage.put_scalar("nonfinite_grad_skips", self.nonfinite_grad_skips, smoothing_hint=False)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "nonfinite_grad_skips": self.nonfinite_grad_skips}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.nonfinite_grad_skips = state_dict.get("nonfinite_grad_skips", 0)


class AMPTrainer(SimpleTrainer):
    """``SimpleTrainer`` with automatic mixed precision.

    Args:
        model, data_loader, optimizer, grad_clipper, nonfinite_grads: as for ``SimpleTrainer``
            (with a float16 GradScaler, the scaler skips steps with Inf / NaN gradients itself).
        precision: ``"float16"`` (CUDA only, with a GradScaler) or ``"bfloat16"`` (CPU or CUDA;
            no scaling needed since bf16 has fp32's exponent range).
        grad_scaler: a custom ``torch.amp.GradScaler`` for float16.

    Raises:
        ValueError: for an unknown precision or float16 on a non-CUDA device.
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable | None,
        optimizer: torch.optim.Optimizer,
        grad_clipper: GradClipper | None = None,
        precision: str = "float16",
        grad_scaler: torch.amp.GradScaler | None = None,
        nonfinite_grads: str = "skip",
    ) -> None:
        self.device_type = _model_device(model).type
        dtype = amp_dtype(precision, self.device_type)
        super().__init__(model, data_loader, optimizer, grad_clipper, nonfinite_grads)
        self.precision = dtype
        if grad_scaler is None and self.precision == torch.float16:
            grad_scaler = torch.amp.GradScaler(self.device_type)
        self.grad_scaler = grad_scaler

    def run_step(self) -> None:
        data, data_time = self.start_step()
        with torch.autocast(device_type=self.device_type, dtype=self.precision):
            loss_dict = self.forward_losses(data)
            losses = sum(loss_dict.values())
        if self.grad_scaler is None:
            self.finish_step(losses, loss_dict, data_time)
            return
        self.grad_scaler.scale(losses).backward()
        if self.grad_clipper is not None:
            # Clip true gradients: unscale first (step() then skips the second unscale).
            self.grad_scaler.unscale_(self.optimizer)
            self.grad_clipper(self.model.parameters())
        self.write_metrics(loss_dict, data_time)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
