"""``Trainer``: the standard training recipe from a config (Detectron2's DefaultTrainer).

It builds model, optimizer, LR scheduler, checkpointer, data loader and hooks from the config
through overridable classmethods; a project customises training by subclassing and overriding
``build_*``. Typical use::

    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()

Resuming is exact on one process: the checkpoint holds model, optimizer, scheduler, iteration,
grad scaler and RNG states, and the train loader is built after resuming with
``build_train_loader(cfg, start_iter=...)`` so that its seeded sampler continues at the position
of the next iteration (``maskformer.data.build_train_loader`` supports ``start_iter``; an
override must accept it too). Requirements on a loader for bit-identical resumption: batch ``i``
depends only on ``i`` (not on how many batches were drawn before in this process), and fetching
a batch after the first does not draw from the global RNGs of the main process (true for
per-sample RNGs derived from the sample position, and for any worker processes).
"""

from __future__ import annotations

import functools
import logging
import os
import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from maskformer.checkpoint import Checkpointer
from maskformer.config.value_checks import check_config_values
from maskformer.evaluation.build import build_evaluator
from maskformer.evaluation.expected_results import verify_results
from maskformer.evaluation.testing import (
    evaluate_datasets,
    evaluate_with_tta,
    save_test_results,
    tta_evaluators,
)
from maskformer.solver import build_gradient_clipper, build_lr_scheduler, build_optimizer
from maskformer.utils import comm
from maskformer.utils.events import CommonMetricPrinter, EventWriter, JSONWriter, TensorboardXWriter
from maskformer.utils.logger import setup_logger

from . import hooks
from .amp import inference_autocast
from .auto_scale import auto_scale_workers
from .defaults import create_ddp_model
from .precise_bn import PreciseBN, get_bn_modules
from .train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)


class Trainer(TrainerBase):
    """Trains the model of a config with the standard hooks (see the module docstring).

    Args:
        cfg: the full config; with ``SOLVER.REFERENCE_WORLD_SIZE`` set it is first rescaled to the
            actual number of processes (``auto_scale_workers``), and ``self.cfg`` is the result.
    """

    def __init__(self, cfg) -> None:
        super().__init__()
        if not logging.getLogger("maskformer").handlers:
            setup_logger(name="maskformer")
        check_config_values(cfg)
        cfg = auto_scale_workers(cfg, comm.get_world_size())
        self.cfg = cfg
        model = self.build_model(cfg)
        inference_autocast(cfg, model)  # a bad TEST.AMP setting fails now, not at the first evaluation
        optimizer = self.build_optimizer(cfg, model)
        model = create_ddp_model(model)
        self._trainer = self._build_step_trainer(cfg, model, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = Checkpointer(
            model, cfg.OUTPUT_DIR, optimizer=optimizer, scheduler=self.scheduler, trainer=weakref.proxy(self)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self._last_eval_results: dict[str, Any] | None = None
        self._resume_rng: dict[str, Any] | None = None
        self.register_hooks(self.build_hooks())

    @staticmethod
    def _build_step_trainer(cfg, model: nn.Module, optimizer: torch.optim.Optimizer) -> SimpleTrainer:
        """AMPTrainer when SOLVER.AMP.ENABLED (and the precision suits the device), else SimpleTrainer."""
        clipper = build_gradient_clipper(cfg)
        nonfinite = cfg.SOLVER.NONFINITE_GRADS
        if cfg.SOLVER.AMP.ENABLED:
            precision = cfg.SOLVER.AMP.get("PRECISION", "float16")
            device_type = next(model.parameters()).device.type
            if precision != "float16" or device_type == "cuda":
                return AMPTrainer(model, None, optimizer, clipper, precision, nonfinite_grads=nonfinite)
            logger.warning(
                f"SOLVER.AMP.ENABLED with float16 needs CUDA; the model is on {device_type}, so training "
                "runs in float32. Set SOLVER.AMP.PRECISION bfloat16 for mixed precision on this device."
            )
        return SimpleTrainer(model, None, optimizer, clipper, nonfinite_grads=nonfinite)

    @property
    def model(self) -> nn.Module:
        return self._trainer.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._trainer.optimizer

    def resume_or_load(self, resume: bool = True) -> None:
        """Resumes from OUTPUT_DIR's newest loadable checkpoint if ``resume``; else loads MODEL.WEIGHTS.

        When resuming, training continues at the iteration after the checkpoint's (see
        ``Checkpointer.resume_or_load`` for how the checkpoint is chosen and when it is refused).
        """
        data = self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume, restore_rng=False)
        if self.checkpointer.resumed_from:
            self.start_iter = self.iter + 1
            # Restored in train() once the data stream has started (see there).
            self._resume_rng = data.get("rng")

    def build_hooks(self) -> list[HookBase]:
        """IterationTimer, LRScheduler, PreciseBN (if enabled), PeriodicCheckpointer, EvalHook,
        PeriodicWriter (main process)."""
        cfg = self.cfg

        def test_and_save_results() -> dict[str, Any]:
            self._last_eval_results = self.test(self.cfg, self.model)
            return self._last_eval_results

        hook_list: list[HookBase] = [
            hooks.IterationTimer(),
            hooks.LRScheduler(self.optimizer, self.scheduler),
            # Before the checkpoint and the evaluation, which should see the recomputed statistics.
            self._precise_bn_hook(cfg),
            hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, self.max_iter),
            # Every process runs evaluation (inference is sharded across them).
            hooks.EvalHook(cfg.TEST.EVAL_PERIOD, test_and_save_results),
        ]
        if comm.is_main_process():
            period = cfg.LOG_PERIOD
            hook_list.append(
                hooks.PeriodicWriter(self.build_writers(), period, first_write_after=min(5, period))
            )
        return hook_list

    def _precise_bn_hook(self, cfg) -> HookBase | None:
        """Detectron2's PreciseBN when TEST.PRECISE_BN.ENABLED and the model has BatchNorm layers."""
        if not cfg.TEST.PRECISE_BN.ENABLED:
            return None
        if not get_bn_modules(self.model):
            logger.info(
                "TEST.PRECISE_BN.ENABLED, but the model has no BatchNorm layer in training mode "
                "(frozen BN, GroupNorm and LayerNorm have no statistics to recompute): no PreciseBN."
            )
            return None
        loader_cfg = cfg.clone()
        loader_cfg.defrost()
        loader_cfg.DATALOADER.NUM_WORKERS = 0  # a second loader for a few batches: no workers
        return PreciseBN(
            cfg.TEST.EVAL_PERIOD,
            self.model,
            lambda: self.build_train_loader(loader_cfg),
            cfg.TEST.PRECISE_BN.NUM_ITER,
        )

    def build_writers(self) -> list[EventWriter]:
        """Console, ``OUTPUT_DIR/metrics.json`` and TensorBoard (skipped if not installed)."""
        output_dir = self.cfg.OUTPUT_DIR
        os.makedirs(output_dir, exist_ok=True)
        writers: list[EventWriter] = [
            CommonMetricPrinter(
                self.max_iter,
                ims_per_batch=self.cfg.SOLVER.IMS_PER_BATCH,
                # None: no test dataset, so no evaluation for the ETA to wait for.
                eval_period=self.cfg.TEST.EVAL_PERIOD if self.cfg.DATASETS.TEST else None,
            ),
            JSONWriter(os.path.join(output_dir, "metrics.json")),
        ]
        try:
            writers.append(TensorboardXWriter(output_dir))
        except ImportError as e:
            logger.warning(f"{e} Continuing without TensorBoard.")
        return writers

    def train(self) -> dict[str, Any] | None:
        """Trains from ``start_iter`` to SOLVER.MAX_ITER; returns the last evaluation results.

        Raises:
            RuntimeError: the final results miss TEST.EXPECTED_RESULTS (checked on the main process).
        """
        self._trainer.data_loader = self.build_train_loader(self.cfg, start_iter=self.start_iter)
        if self._resume_rng is not None:
            # Starting the stream may draw random numbers; the saved state must come after them.
            self._trainer.prefetch_batch()
            self.checkpointer.restore_rng(self._resume_rng)
            self._resume_rng = None
        super().train(self.start_iter, self.max_iter)
        if self.cfg.TEST.EXPECTED_RESULTS and comm.is_main_process():
            verify_results(self.cfg, self._last_eval_results or {})
        return self._last_eval_results

    def run_step(self) -> None:
        self._trainer.iter = self.iter
        self._trainer.run_step()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_trainer"] = self._trainer.state_dict()
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._trainer.load_state_dict(state_dict["_trainer"])

    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        """``maskformer.modeling.build_model`` (on MODEL.DEVICE; thing ids from the datasets' metadata)."""
        from maskformer.modeling import build_model

        model = build_model(cfg)
        logger.info(f"Model:\n{model}")
        return model

    @classmethod
    def build_optimizer(cls, cfg, model: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer: torch.optim.Optimizer) -> Any:
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0) -> Any:
        """An infinite iterable of batches whose stream starts at iteration ``start_iter``."""
        from maskformer.data import build_train_loader

        return build_train_loader(cfg, start_iter=start_iter)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str) -> Any:
        from maskformer.data import build_test_loader

        return build_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder: str | None = None) -> Any:
        """``maskformer.evaluation.build_evaluator`` (default folder ``OUTPUT_DIR/inference/<name>``)."""
        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def test(cls, cfg, model: nn.Module, evaluators: list[Any] | None = None) -> dict[str, Any]:
        """Evaluates ``model`` on every dataset of DATASETS.TEST (and with TTA if TEST.AUG.ENABLED).

        Loaders and evaluators come from ``build_test_loader`` / ``build_evaluator``; the results
        are logged as copy-paste tables and saved to ``OUTPUT_DIR/inference/results.json``
        (``maskformer.evaluation.testing``).

        Args:
            cfg: the config.
            model: the model (eval mode is set by ``inference_on_dataset``).
            evaluators: one evaluator per test dataset, or None to build them (given evaluators
                also score the TTA pass, whose outputs hold ``sem_seg`` only).

        Returns:
            ``{dataset_name: {task: {metric: value}}}``, or ``{task: {metric: value}}`` with one
            test dataset (Detectron2's convention); TTA results have task keys suffixed ``_TTA``;
            ``{}`` when DATASETS.TEST is empty (a training-only run).
        """
        if not cfg.DATASETS.TEST:
            logger.info("DATASETS.TEST is empty: no evaluation.")
            return {}
        loader = functools.partial(cls.build_test_loader, cfg)
        with inference_autocast(cfg, model):  # TEST.AMP.ENABLED
            results = evaluate_datasets(
                model,
                cfg.DATASETS.TEST,
                loader,
                evaluators if evaluators is not None else functools.partial(cls.build_evaluator, cfg),
            )
            if cfg.TEST.AUG.ENABLED:
                tta = evaluators if evaluators is not None else tta_evaluators(cfg, cls.build_evaluator)
                results.update(evaluate_with_tta(cfg, model, loader, tta))
        save_test_results(results, cfg.OUTPUT_DIR)
        return results
