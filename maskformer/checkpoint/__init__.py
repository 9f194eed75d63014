"""Checkpoints: atomic save / resume of training state and loading of foreign weight files."""

from .checkpointer import Checkpointer, IncompatibleKeys, load_model_state

__all__ = ["Checkpointer", "IncompatibleKeys", "load_model_state"]
