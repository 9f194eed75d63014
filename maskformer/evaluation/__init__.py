"""Evaluation: evaluators (semantic, panoptic, instance, Cityscapes) and inference over a dataset.

Typical use for one dataset::

    evaluator = build_evaluator(cfg, dataset_name)          # by the dataset's evaluator_type
    results = inference_on_dataset(model, build_test_loader(cfg, dataset_name), evaluator)

``results`` is ``{task: {metric: value}}`` on the main process and ``{}`` on the others.
``testing.py`` runs every test dataset and the TTA pass, logs and saves the results (what
``Trainer.test`` does); ``expected_results.py`` checks them against ``TEST.EXPECTED_RESULTS``.
"""

from .build import EVALUATOR_REGISTRY, build_evaluator
from .cityscapes import CityscapesInstanceEvaluator, CityscapesSemSegEvaluator
from .evaluator import (
    DatasetEvaluator,
    DatasetEvaluators,
    inference_context,
    inference_on_dataset,
)
from .expected_results import check_expected_results, verify_results
from .instance import COCOInstanceEvaluator, evaluate_coco_results, instances_to_coco_results
from .panoptic import COCOPanopticEvaluator
from .pq import pq_average, pq_image_stats
from .sem_seg import SemSegEvaluator, confusion_matrix, semantic_metrics
from .testing import (
    evaluate_datasets,
    evaluate_with_tta,
    flatten_results,
    format_results_table,
    print_results_table,
    save_results_json,
    save_test_results,
    tta_evaluators,
)

__all__ = [
    "check_expected_results",
    "verify_results",
    "EVALUATOR_REGISTRY",
    "COCOInstanceEvaluator",
    "COCOPanopticEvaluator",
    "CityscapesInstanceEvaluator",
    "CityscapesSemSegEvaluator",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "SemSegEvaluator",
    "build_evaluator",
    "confusion_matrix",
    "evaluate_coco_results",
    "evaluate_datasets",
    "evaluate_with_tta",
    "flatten_results",
    "format_results_table",
    "inference_context",
    "inference_on_dataset",
    "instances_to_coco_results",
    "pq_average",
    "pq_image_stats",
    "print_results_table",
    "save_results_json",
    "save_test_results",
    "semantic_metrics",
    "tta_evaluators",
]
