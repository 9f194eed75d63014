"""Range checks of config values that count iterations, periods or workers.

A negative ``SOLVER.MAX_ITER`` or ``CHECKPOINT_PERIOD`` would otherwise start a run that trains
nothing, never checkpoints or fails much later. ``check_value`` runs on every merge (config file or
command-line override), so the error names the file and the key; ``check_config_values`` runs at
trainer setup for values set in Python.
"""

from __future__ import annotations

from typing import Any

from .yaml_loader import ConfigError

__all__ = ["check_config_values", "check_value"]

# key -> (smallest allowed value, what 0 or the smallest value means)
_MINIMUM: dict[str, tuple[int, str]] = {
    "SOLVER.MAX_ITER": (0, "the number of training iterations"),
    "SOLVER.CHECKPOINT_PERIOD": (1, "iterations between checkpoints"),
    "SOLVER.WARMUP_ITERS": (0, "warm-up iterations (0: no warm-up)"),
    "SOLVER.STEPS": (0, "iterations at which the learning rate decays"),
    "TEST.EVAL_PERIOD": (0, "iterations between evaluations (0: evaluate after training only)"),
    "TEST.PRECISE_BN.NUM_ITER": (0, "iterations of precise BN statistics"),
    "VIS_PERIOD": (0, "iterations between training visualisations (0: never)"),
    "LOG_PERIOD": (1, "iterations between metric writes"),
    "DATALOADER.NUM_WORKERS": (0, "data loading processes (0: load in the main process)"),
}


def check_value(full_key: str, value: Any, source: str) -> None:
    """Raises ConfigError when ``full_key`` is range-checked and ``value`` is below its minimum.

    Args:
        full_key: dotted key, e.g. ``"SOLVER.MAX_ITER"``.
        value: the value being set (an int, or a list / tuple of ints for ``SOLVER.STEPS``).
        source: the config file or ``"command-line override"``, for the message.
    """
    if full_key not in _MINIMUM:
        return
    minimum, meaning = _MINIMUM[full_key]
    values = value if isinstance(value, (list, tuple)) else [value]
    bad = [v for v in values if isinstance(v, int) and v < minimum]
    if bad:
        raise ConfigError(
            f"{source}: '{full_key}' is {value!r}, but it is {meaning} and must be >= {minimum}. "
            f"Fix: set {full_key} to a value >= {minimum}."
        )


def check_config_values(cfg: Any) -> None:
    """Runs :func:`check_value` on every range-checked key present in ``cfg``.

    Raises:
        ConfigError: naming the first key whose value is out of range.
    """
    for full_key in _MINIMUM:
        node = cfg
        for part in full_key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            check_value(full_key, node, "config")
