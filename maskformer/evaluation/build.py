"""Choosing evaluators from a dataset's ``evaluator_type`` metadata.

``EVALUATOR_REGISTRY`` maps an ``evaluator_type`` to a function ``(cfg, dataset_name, metadata,
output_folder) -> list[DatasetEvaluator]``; the built-in entries reproduce the combinations of the
official Mask2Former ``train_net.py``. A new dataset type plugs in by registering a function::

    @EVALUATOR_REGISTRY.register(name="my_type")
    def my_evaluators(cfg, dataset_name, metadata, output_folder):
        return [SemSegEvaluator.from_metadata(metadata, output_dir=output_folder)]
"""

from __future__ import annotations

import os
from typing import Any

from ..registry import Registry
from .cityscapes import CityscapesInstanceEvaluator, CityscapesSemSegEvaluator
from .evaluator import DatasetEvaluator, DatasetEvaluators
from .instance import COCOInstanceEvaluator
from .panoptic import COCOPanopticEvaluator
from .sem_seg import SemSegEvaluator

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def _test_flags(cfg: Any) -> tuple[bool, bool, bool]:
    test = cfg.MODEL.MASK_FORMER.TEST
    return test.SEMANTIC_ON, test.INSTANCE_ON, test.PANOPTIC_ON


def _sem_seg(dataset_name: str, metadata: Any, output_folder: str | None) -> SemSegEvaluator:
    from ..data import DatasetCatalog

    return SemSegEvaluator.from_metadata(metadata, DatasetCatalog.get(dataset_name), output_dir=output_folder)


@EVALUATOR_REGISTRY.register(name="sem_seg")
def sem_seg_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """Semantic segmentation datasets: mIoU and friends."""
    return [_sem_seg(dataset_name, metadata, output_folder)]


@EVALUATOR_REGISTRY.register(name="coco")
def coco_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """COCO instance segmentation: mask and box AP."""
    return [COCOInstanceEvaluator.from_metadata(metadata, output_dir=output_folder)]


@EVALUATOR_REGISTRY.register(name="coco_panoptic_seg")
def coco_panoptic_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """COCO panoptic: PQ, then COCO instance AP and semantic mIoU, each by ``TEST.*_ON``."""
    semantic_on, instance_on, panoptic_on = _test_flags(cfg)
    evaluators: list[DatasetEvaluator] = []
    if panoptic_on:
        evaluators.append(COCOPanopticEvaluator.from_metadata(metadata, output_dir=output_folder))
    if instance_on:
        evaluators.append(COCOInstanceEvaluator.from_metadata(metadata, output_dir=output_folder))
    if semantic_on:
        evaluators.append(_sem_seg(dataset_name, metadata, output_folder))
    return evaluators


def _panoptic_with_stuff_ids(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """ADE20K / Mapillary panoptic: contiguous ids cover stuff, so the instance AP uses sparse ids."""
    semantic_on, instance_on, panoptic_on = _test_flags(cfg)
    evaluators: list[DatasetEvaluator] = []
    if panoptic_on:
        evaluators.append(COCOPanopticEvaluator.from_metadata(metadata, output_dir=output_folder))
    if instance_on:
        evaluators.append(
            COCOInstanceEvaluator.from_metadata(
                metadata, contiguous_ids_cover_stuff=True, output_dir=output_folder
            )
        )
    return evaluators


@EVALUATOR_REGISTRY.register(name="ade20k_panoptic_seg")
def ade20k_panoptic_evaluators(cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None) -> list:
    """ADE20K panoptic: semantic (always, as in the official script), PQ and instance AP by ``TEST.*_ON``."""
    sem_seg = _sem_seg(dataset_name, metadata, output_folder)
    return [sem_seg, *_panoptic_with_stuff_ids(cfg, dataset_name, metadata, output_folder)]


@EVALUATOR_REGISTRY.register(name="mapillary_vistas_panoptic_seg")
def mapillary_panoptic_evaluators(
    cfg: Any, dataset_name: str, metadata: Any, output_folder: str | None
) -> list:
    """Mapillary Vistas panoptic: PQ, instance AP and semantic mIoU, each by ``TEST.*_ON``."""
    semantic_on = _test_flags(cfg)[0]
    evaluators = _panoptic_with_stuff_ids(cfg, dataset_name, metadata, output_folder)
    if semantic_on:
        evaluators.append(_sem_seg(dataset_name, metadata, output_folder))
    return evaluators


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
    semantic_on, instance_on, panoptic_on = _test_flags(cfg)
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
            "switched off; set MODEL.MASK_FORMER.TEST.SEMANTIC_ON / INSTANCE_ON / PANOPTIC_ON."
        )
    return DatasetEvaluators(evaluators)
