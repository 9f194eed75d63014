"""Check evaluation results against ``TEST.EXPECTED_RESULTS`` (Detectron2's regression check).

Each entry is ``[task, metric, value, tolerance]``, e.g. ``[["panoptic_seg", "PQ", 52.0, 0.5]]``;
a result passes when it is finite and within ``tolerance`` of ``value``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_expected_results", "verify_results"]

logger = logging.getLogger(__name__)


def _parse(expected: Sequence[Any]) -> list[tuple[str, str, float, float]]:
    entries = []
    for entry in expected:
        if len(entry) != 4 or not all(isinstance(v, str) for v in entry[:2]):
            raise ValueError(
                f"TEST.EXPECTED_RESULTS entry {list(entry)!r} is not [task, metric, value, tolerance], "
                'e.g. ["panoptic_seg", "PQ", 52.0, 0.5].'
            )
        task, metric, value, tolerance = entry
        entries.append((task, metric, float(value), float(tolerance)))
    return entries


def check_expected_results(expected: Sequence[Any], results: Mapping[str, Any]) -> list[str]:
    """Compares ``results`` with the expected ``[task, metric, value, tolerance]`` entries.

    Args:
        expected: ``TEST.EXPECTED_RESULTS``.
        results: ``{task: {metric: value}}`` of one test dataset (what ``Trainer.test`` returns).

    Returns:
        one line per failed expectation (empty when all pass).
    """
    failures = []
    for task, metric, value, tolerance in _parse(expected):
        if metric not in results.get(task, {}):
            failures.append(f"{task}/{metric}: missing (tasks evaluated: {sorted(results)})")
            continue
        actual = float(results[task][metric])
        if not (math.isfinite(actual) and abs(actual - value) <= tolerance):
            failures.append(f"{task}/{metric}: {actual:.4f}, expected {value} +- {tolerance}")
    return failures


def verify_results(cfg, results: Mapping[str, Any]) -> None:
    """Checks ``results`` against ``cfg.TEST.EXPECTED_RESULTS`` (nothing to do when it is empty).

    Raises:
        ValueError: expectations are set but DATASETS.TEST does not name exactly one dataset.
        RuntimeError: a result is missing or out of tolerance (every failure is listed).
    """
    expected = cfg.TEST.EXPECTED_RESULTS
    if not expected:
        return
    if len(cfg.DATASETS.TEST) != 1:
        raise ValueError(
            f"TEST.EXPECTED_RESULTS needs exactly one test dataset; DATASETS.TEST is {cfg.DATASETS.TEST}."
        )
    failures = check_expected_results(expected, results)
    if failures:
        raise RuntimeError("Results do not match TEST.EXPECTED_RESULTS:\n  " + "\n  ".join(failures))
    logger.info("Results match TEST.EXPECTED_RESULTS (%d checks).", len(expected))
