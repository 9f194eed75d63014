"""Engine: the training loop, hooks, the config-driven Trainer, command line, launching, Predictor."""

from .defaults import create_ddp_model, default_argument_parser, default_setup
from .hooks import EvalHook, IterationTimer, LRScheduler, PeriodicCheckpointer, PeriodicWriter
from .launch import launch
from .predictor import Predictor
from .train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase
from .trainer import Trainer

__all__ = [
    "AMPTrainer",
    "EvalHook",
    "HookBase",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "Predictor",
    "SimpleTrainer",
    "Trainer",
    "TrainerBase",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "launch",
]
