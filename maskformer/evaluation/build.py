"""Choosing evaluators from a dataset's ``evaluator_type`` metadata.

``EVALUATOR_REGISTRY`` maps an ``evaluator_type`` to a function ``(cfg, dataset_name, metadata,
output_folder) -> list[DatasetEvaluator]``; the built-in entries reproduce the combinations of the
official Mask2Former ``train_net.py``. A new dataset type plugs in by registering a function::

    @EVALUATOR_REGISTRY.register(name="my_type")
    def my_evaluators(cfg, dataset_name, metadata, output_folder):
        return [SemSegEvaluator.from_metadata(metadata, output_dir=output_folder)]
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from ..registry import Registry
from .cityscapes import CityscapesInstanceEvaluator, CityscapesSemSegEvaluator
from .evaluator import DatasetEvaluator, DatasetEvaluators
from .instance import COCOInstanceEvaluator
from .panoptic import COCOPanopticEvaluator
from .sem_seg import SemSegEvaluator

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")

logger = logging.getLogger(__name__)


def _has_semantic_gt(dataset_name: str, metadata: Any) -> bool:
    """A ``sem_seg_root`` in the metadata, else a ``sem_seg_file_name`` in every dataset dict."""
    from ..data import DatasetCatalog

    if metadata.get("sem_seg_root"):
        return True
    dicts = DatasetCatalog.get(dataset_name)
    return bool(dicts) and all("sem_seg_file_name" in d for d in dicts)


def _has_metadata(*keys: str) -> Callable[[str, Any], bool]:
    return lambda dataset_name, metadata: all(metadata.get(key) for key in keys)


# task -> (the config flag asking for it, the ground truth it needs, test of that ground truth)
_GROUND_TRUTH: dict[str, tuple[str, str, Callable[[str, Any], bool]]] = {
    "semantic": ("SEMANTIC_ON", "metadata 'sem_seg_root' or a sem_seg_file_name per image", _has_semantic_gt),
    "instance": ("INSTANCE_ON", "a COCO instance json (metadata 'json_file')", _has_metadata("json_file")),
    "panoptic": (
        "PANOPTIC_ON",
        "a panoptic json and PNG folder (metadata 'panoptic_json', 'panoptic_root')",
        _has_metadata("panoptic_json", "panoptic_root"),
    ),
    "cityscapes semantic": ("SEMANTIC_ON", "the gtFine folder (metadata 'gt_dir')", _has_metadata("gt_dir")),
    "cityscapes instance": ("INSTANCE_ON", "the gtFine folder (metadata 'gt_dir')", _has_metadata("gt_dir")),
}


@functools.cache
def _log_missing_gt(dataset_name: str, task: str) -> None:
    """Logs once per process and (dataset, task) that a requested metric cannot be computed."""
    flag, needs, _ = _GROUND_TRUTH[task]
    logger.warning(
        "MODEL.MASK_FORMER.TEST.%s asks for %s evaluation, but dataset '%s' has no %s ground truth "
        "(needs %s); that evaluator is not added.",
        flag,
        task,
        dataset_name,
        task,
        needs,
    )


def _evaluable(requested: bool, task: str, dataset_name: str, metadata: Any) -> bool:
    """Whether to add the evaluator of ``task``: requested and the dataset has its ground truth."""
    if not requested:
        return False
    if _GROUND_TRUTH[task][2](dataset_name, metadata):
        return True
    _log_missing_gt(dataset_name, task)
    return False


def _test_flags(
    cfg: Any, dataset_name: str, metadata: Any, cityscapes: bool = False
) -> tuple[bool, bool, bool]:
    """``TEST.{SEMANTIC,INSTANCE,PANOPTIC}_ON``, each also requiring the dataset's ground truth."""
    test = cfg.MODEL.MASK_FORMER.TEST
    prefix = "cityscapes " if cityscapes else ""
    return (
        _evaluable(test.SEMANTIC_ON, prefix + "semantic", dataset_name, metadata),
        _evaluable(test.INSTANCE_ON, prefix + "instance", dataset_name, metadata),
        _evaluable(test.PANOPTIC_ON, "panoptic", dataset_name, metadata),
    )


def _sem_seg(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> SemSegEvaluator:
    from ..data import DatasetCatalog

    return SemSegEvaluator.from_metadata(
        metadata, DatasetCatalog.get(dataset_name), output_dir=output_folder, semantic_pq=cfg.TEST.SEMANTIC_PQ
    )


@EVALUATOR_REGISTRY.register(name="sem_seg")
def sem_seg_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """Semantic segmentation datasets: mIoU and friends."""
    return [_sem_seg(cfg, dataset_name, metadata, output_folder)]


@EVALUATOR_REGISTRY.register(name="coco")
def coco_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """COCO instance segmentation: mask and box AP."""
    return [COCOInstanceEvaluator.from_metadata(metadata, output_dir=output_folder)]


def _pq_ap_miou(
    cfg: Any,
    dataset_name: str,
    metadata: Any,
    output_folder: str | None,
    flags: tuple[bool, bool, bool],
    cover_stuff: bool,
) -> list[DatasetEvaluator]:
    """PQ, COCO instance AP and semantic mIoU, in this order, each where its flag is on.

    Args:
        flags: ``(semantic_on, instance_on, panoptic_on)`` (see :func:`_test_flags`).
        cover_stuff: the contiguous ids cover stuff classes too (ADE20K / Mapillary panoptic), so
            the instance AP maps them to the sparse instance ids.
    """
    semantic_on, instance_on, panoptic_on = flags
    evaluators: list[DatasetEvaluator] = []
    if panoptic_on:
        evaluators.append(COCOPanopticEvaluator.from_metadata(metadata, output_dir=output_folder))
    if instance_on:
        evaluators.append(
            COCOInstanceEvaluator.from_metadata(
                metadata, contiguous_ids_cover_stuff=cover_stuff, output_dir=output_folder
            )
        )
    if semantic_on:
        evaluators.append(_sem_seg(cfg, dataset_name, metadata, output_folder))
    return evaluators


@EVALUATOR_REGISTRY.register(name="coco_panoptic_seg")
def coco_panoptic_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """COCO panoptic: PQ, then COCO instance AP and semantic mIoU, each by ``TEST.*_ON``."""
    flags = _test_flags(cfg, dataset_name, metadata)
    return _pq_ap_miou(cfg, dataset_name, metadata, output_folder, flags, cover_stuff=False)


@EVALUATOR_REGISTRY.register(name="ade20k_panoptic_seg")
def ade20k_panoptic_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """ADE20K panoptic: semantic (always, as in the official script), PQ and instance AP by ``TEST.*_ON``.

    Contiguous ids cover stuff, so the instance AP uses the sparse instance ids.
    """
    _, instance_on, panoptic_on = _test_flags(cfg, dataset_name, metadata)
    flags = (False, instance_on, panoptic_on)  # the semantic evaluator comes first here
    evaluators = _pq_ap_miou(cfg, dataset_name, metadata, output_folder, flags, cover_stuff=True)
    if _evaluable(True, "semantic", dataset_name, metadata):
        evaluators.insert(0, _sem_seg(cfg, dataset_name, metadata, output_folder))
    return evaluators


@EVALUATOR_REGISTRY.register(name="mapillary_vistas_panoptic_seg")
def mapillary_panoptic_evaluators(
    cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None
) -> list:
    """Mapillary Vistas panoptic: PQ, instance AP (sparse ids) and semantic mIoU, by ``TEST.*_ON``."""
    flags = _test_flags(cfg, dataset_name, metadata)
    return _pq_ap_miou(cfg, dataset_name, metadata, output_folder, flags, cover_stuff=True)


@EVALUATOR_REGISTRY.register(name="cityscapes_sem_seg")
def cityscapes_sem_seg_evaluators(
    cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None
) -> list:
    """Cityscapes semantic: the official cityscapesscripts IoU / iIoU."""
    return [CityscapesSemSegEvaluator.from_metadata(metadata, output_dir=output_folder)]


@EVALUATOR_REGISTRY.register(name="cityscapes_instance")
def cityscapes_instance_evaluators(
    cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None
) -> list:
    """Cityscapes instance: the official cityscapesscripts AP / AP50."""
    return [CityscapesInstanceEvaluator.from_metadata(metadata, output_dir=output_folder)]


@EVALUATOR_REGISTRY.register(name="cityscapes_panoptic_seg")
def cityscapes_panoptic_evaluators(
    cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None
) -> list:
    """Cityscapes panoptic: PQ, Cityscapes semantic and instance, each by ``TEST.*_ON``."""
    semantic_on, instance_on, panoptic_on = _test_flags(cfg, dataset_name, metadata, cityscapes=True)
    evaluators: list[DatasetEvaluator] = []
    if panoptic_on:
        evaluators.append(COCOPanopticEvaluator.from_metadata(metadata, output_dir=output_folder))
    if semantic_on:
        evaluators.append(CityscapesSemSegEvaluator.from_metadata(metadata, output_dir=output_folder))
    if instance_on:
        evaluators.append(CityscapesInstanceEvaluator.from_metadata(metadata, output_dir=output_folder))
    return evaluators


def build_evaluator(cfg: Any, dataset_name: str, output_folder: str | None = None) -> DatasetEvaluators:
    """Evaluators for ``dataset_name`` according to its ``evaluator_type`` metadata.

    Args:
        cfg: the config (``MODEL.MASK_FORMER.TEST.{SEMANTIC_ON, INSTANCE_ON, PANOPTIC_ON}``, ``OUTPUT_DIR``).
        dataset_name: a registered dataset.
        output_folder: where results and predictions go; default ``OUTPUT_DIR/inference/<dataset_name>``.

    Returns:
        The evaluators combined in one :class:`DatasetEvaluators`.
    """
    from ..data import MetadataCatalog

    metadata = MetadataCatalog.get(dataset_name)
    evaluator_type = metadata.get("evaluator_type")
    if evaluator_type is None:
        raise KeyError(
            f"Dataset '{dataset_name}' has no 'evaluator_type' metadata; set it when registering the dataset "
            f"(one of {EVALUATOR_REGISTRY.keys()})."
        )
    if output_folder is None:
        output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    evaluators = EVALUATOR_REGISTRY.get(evaluator_type)(cfg, dataset_name, metadata, output_folder)
    if not evaluators:
        raise ValueError(
            f"No evaluator for dataset '{dataset_name}' (evaluator_type '{evaluator_type}'): every task is "
            "switched off or lacks ground truth in the dataset (see the warnings above); set "
            "MODEL.MASK_FORMER.TEST.SEMANTIC_ON / INSTANCE_ON / PANOPTIC_ON to a task the dataset has."
        )
    return DatasetEvaluators(evaluators)
