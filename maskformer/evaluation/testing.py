"""What a test run does with models and results: evaluating every test dataset, the test-time
augmentation pass, the result tables, flat metric names and the JSON files.

The trainer, the tools and the benchmarks share these functions; results are nested dicts
``{task: {metric: value}}`` (one dataset) or ``{dataset_name: {task: {metric: value}}}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tabulate import tabulate
from torch import nn

from ..utils import comm
from .evaluator import DatasetEvaluator, inference_on_dataset

__all__ = [
    "evaluate_datasets",
    "evaluate_with_tta",
    "flatten_results",
    "format_results_table",
    "print_results_table",
    "save_results_json",
    "save_test_results",
    "tta_evaluators",
]

logger = logging.getLogger(__name__)

# (dataset_name) -> this process's loader of lists of input dicts
LoaderFactory = Callable[[str], Iterable[list[dict[str, Any]]]]


def format_results_table(results: Mapping[str, Any]) -> str:
    """Detectron2's copy-paste summary: per task a line of metric names, then one of values.

    Per-category metrics (names with a "-", e.g. ``IoU-sky``) are left out; the evaluators log
    them in full. A task whose value is not a dict gets one ``task=value`` line.
    """
    lines = []
    for task, metrics in results.items():
        if not isinstance(metrics, Mapping):
            lines.append(f"copypaste: {task}={metrics}")
            continue
        main = {k: v for k, v in metrics.items() if "-" not in k}
        values = [f"{v:.4f}" if isinstance(v, int | float) else str(v) for v in main.values()]
        lines += [
            f"copypaste: Task: {task}",
            "copypaste: " + ",".join(main),
            "copypaste: " + ",".join(values),
        ]
    return "\n".join(lines)


def flatten_results(results: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"sem_seg": {"mIoU": 50.0}}`` -> ``{"sem_seg/mIoU": 50.0}`` (numeric leaves only, as floats).

    The names the metric writers report (``metrics.json``, TensorBoard); booleans and strings
    are left out.
    """
    flat: dict[str, float] = {}
    for key, value in results.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_results(value, name))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def print_results_table(task: str, metrics: dict[str, float], max_rows: int | None = None) -> str:
    """Logs ``{metric: value}`` of one task as a table and returns the table text.

    Args:
        task: the task name shown in the header (e.g. ``"sem_seg"``).
        metrics: metric name -> value (percentages).
        max_rows: if given, only the first ``max_rows`` metrics are shown (per-class lists are long).
    """
    rows = [(name, f"{value:.3f}") for name, value in metrics.items()]
    if max_rows is not None:
        rows = rows[:max_rows]
    table = tabulate(rows, headers=["metric", task], tablefmt="pipe", stralign="right")
    logger.info("Evaluation results for %s:\n%s", task, table)
    return table


def _write_json(path: str, results: Mapping[str, Any], default: Callable[[Any], Any] | None = None) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=default)


def save_results_json(results: dict[str, Any], output_dir: str | None, file_name: str) -> None:
    """Writes ``results`` as JSON to ``output_dir/file_name`` (nothing if ``output_dir`` is None).

    NaN values (e.g. the IoU of a class absent from the ground truth) are written as ``NaN``.
    """
    if not output_dir:
        return
    path = os.path.join(output_dir, file_name)
    _write_json(path, results)
    logger.info("Saved evaluation results to %s", path)


def save_test_results(results: Mapping[str, Any], output_dir: str) -> None:
    """On the main process, writes a test run's results to ``output_dir/inference/results.json``.

    Nothing is written when ``output_dir`` is empty. Values JSON does not know (NumPy scalars,
    one-element tensors) are written as floats.
    """
    if comm.is_main_process() and output_dir:
        _write_json(os.path.join(output_dir, "inference", "results.json"), results, default=float)


def evaluate_datasets(
    model: nn.Module,
    dataset_names: Sequence[str],
    build_loader: LoaderFactory,
    evaluators: Sequence[DatasetEvaluator] | Callable[[str], DatasetEvaluator],
) -> dict[str, Any]:
    """Runs ``inference_on_dataset`` on each dataset and logs its copy-paste table (main process).

    Args:
        model: the model (eval mode is set by ``inference_on_dataset``).
        dataset_names: the datasets, in order (``DATASETS.TEST``).
        build_loader: ``dataset_name -> loader``, called when the dataset's turn comes.
        evaluators: one evaluator per dataset, or ``dataset_name -> evaluator`` to build each when
            its dataset's turn comes.

    Returns:
        ``{dataset_name: {task: {metric: value}}}``, or ``{task: {metric: value}}`` with one
        dataset (Detectron2's convention); ``{}`` per dataset on processes other than the main one.

    Raises:
        ValueError: ``evaluators`` is a sequence without one evaluator per dataset.
    """
    names = list(dataset_names)
    if not callable(evaluators) and len(evaluators) != len(names):
        raise ValueError(f"{len(evaluators)} evaluators given for {len(names)} DATASETS.TEST entries.")
    results: dict[str, Any] = {}
    for idx, name in enumerate(names):
        loader = build_loader(name)
        evaluator = evaluators(name) if callable(evaluators) else evaluators[idx]
        results[name] = inference_on_dataset(model, loader, evaluator) or {}
        if comm.is_main_process():
            logger.info(f"Evaluation results for {name}:\n{format_results_table(results[name])}")
    return next(iter(results.values())) if len(results) == 1 else results


def tta_evaluators(
    cfg, build_evaluator: Callable[[Any, str, str], DatasetEvaluator]
) -> list[DatasetEvaluator]:
    """Semantic-only evaluators for the TTA pass (the TTA model returns ``sem_seg`` only).

    Args:
        cfg: the config; the evaluators see a copy with only ``MODEL.MASK_FORMER.TEST.SEMANTIC_ON``.
        build_evaluator: ``(cfg, dataset_name, output_folder) -> evaluator``; the output folder of
            a dataset is ``OUTPUT_DIR/inference_TTA/<dataset_name>``.

    Returns:
        One evaluator per dataset of ``DATASETS.TEST``.
    """
    tta_cfg = cfg.clone()
    tta_cfg.defrost()
    tta_cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = True
    tta_cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
    tta_cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = False
    folder = os.path.join(cfg.OUTPUT_DIR, "inference_TTA")
    return [build_evaluator(tta_cfg, name, os.path.join(folder, name)) for name in cfg.DATASETS.TEST]


def evaluate_with_tta(
    cfg, model: nn.Module, build_loader: LoaderFactory, evaluators: Sequence[DatasetEvaluator]
) -> dict[str, Any]:
    """The test-time augmentation pass: ``SemanticSegmentorWithTTA(cfg, model)`` on ``DATASETS.TEST``.

    Args:
        cfg: the config (``TEST.AUG``, ``DATASETS.TEST``).
        model: the model the TTA wrapper runs.
        build_loader: ``dataset_name -> loader``.
        evaluators: one evaluator per test dataset (see :func:`tta_evaluators`).

    Returns:
        As :func:`evaluate_datasets`, with every top-level key suffixed ``_TTA``.
    """
    from maskformer.inference.tta import SemanticSegmentorWithTTA

    tta_model = SemanticSegmentorWithTTA(cfg, model)
    results = evaluate_datasets(tta_model, cfg.DATASETS.TEST, build_loader, evaluators)
    return {f"{k}_TTA": v for k, v in results.items()}
