"""build_evaluator: the official train_net.py combinations, chosen by evaluator_type."""

import json
import logging

import pytest

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, MetadataCatalog
from maskformer.evaluation import (
    EVALUATOR_REGISTRY,
    COCOInstanceEvaluator,
    COCOPanopticEvaluator,
    SemSegEvaluator,
    build_evaluator,
)
from tests.helpers.paths import CONFIGS


@pytest.fixture
def dataset(tmp_path):
    """Registers a tiny dataset whose metadata points at real (empty) ground-truth files."""
    names = []
    (tmp_path / "pan").mkdir()
    categories = [{"id": 5, "name": "a", "isthing": 1}, {"id": 9, "name": "b", "isthing": 0}]
    (tmp_path / "pan.json").write_text(json.dumps({"annotations": [], "categories": categories}))
    (tmp_path / "inst.json").write_text(
        json.dumps({"images": [], "annotations": [], "categories": categories[:1]})
    )

    def register(evaluator_type, thing_contiguous=0, semantic=True, instance=True):
        name = f"_test_eval_{evaluator_type}_{len(names)}"
        names.append(name)
        record = {"file_name": "x.jpg", **({"sem_seg_file_name": "x.png"} if semantic else {})}
        DatasetCatalog.register(name, lambda: [record])
        MetadataCatalog.get(name).set(
            evaluator_type=evaluator_type,
            stuff_classes=["a", "b"],
            thing_classes=["a"],
            thing_dataset_id_to_contiguous_id={5: thing_contiguous},
            stuff_dataset_id_to_contiguous_id={5: 0, 9: 1},
            ignore_label=255,
            panoptic_json=str(tmp_path / "pan.json"),
            panoptic_root=str(tmp_path / "pan"),
            **({"json_file": str(tmp_path / "inst.json")} if instance else {}),
        )
        return name

    yield register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _types(evaluators):
    return [type(e) for e in evaluators._evaluators]


def _cfg(semantic=True, instance=True, panoptic=True):
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = semantic
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = instance
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = panoptic
    return cfg


def test_sem_seg_and_coco(dataset, tmp_path):
    cfg = _cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "output")
    assert _types(build_evaluator(cfg, dataset("sem_seg"))) == [SemSegEvaluator]
    evaluators = build_evaluator(cfg, dataset("coco"))
    assert _types(evaluators) == [COCOInstanceEvaluator]
    assert evaluators._evaluators[0]._output_dir.startswith(str(tmp_path / "output" / "inference"))


def test_coco_panoptic_follows_test_flags(dataset):
    name = dataset("coco_panoptic_seg")
    all_on = [COCOPanopticEvaluator, COCOInstanceEvaluator, SemSegEvaluator]
    assert _types(build_evaluator(_cfg(), name)) == all_on
    assert _types(build_evaluator(_cfg(instance=False, semantic=False), name)) == [COCOPanopticEvaluator]
    with pytest.raises(ValueError, match="PANOPTIC_ON"):
        build_evaluator(_cfg(False, False, False), name)


def _missing_gt_warnings(caplog):
    return [r for r in caplog.records if "ground truth" in r.getMessage()]


def test_no_evaluator_for_ground_truth_the_dataset_lacks(dataset, caplog):
    """As coco_2017_val_panoptic (no semantic maps): PQ (and AP) only, the skipped mIoU logged once."""
    name = dataset("coco_panoptic_seg", semantic=False)
    with caplog.at_level(logging.WARNING, logger="maskformer.evaluation.build"):
        for _ in range(2):
            assert _types(build_evaluator(_cfg(), name)) == [COCOPanopticEvaluator, COCOInstanceEvaluator]
    warnings = _missing_gt_warnings(caplog)
    assert len(warnings) == 1
    assert "SEMANTIC_ON" in warnings[0].getMessage() and name in warnings[0].getMessage()


def test_maskformer_coco_panoptic_config_evaluates_pq_only(dataset):
    """The official MaskFormer COCO panoptic recipe (SEMANTIC_ON left at True) on a PQ-only split."""
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml"))
    name = dataset("coco_panoptic_seg", semantic=False)
    assert _types(build_evaluator(cfg, name)) == [COCOPanopticEvaluator]


def test_instance_evaluator_needs_an_instance_json(dataset, caplog):
    name = dataset("mapillary_vistas_panoptic_seg", thing_contiguous=1, instance=False)
    with caplog.at_level(logging.WARNING, logger="maskformer.evaluation.build"):
        assert _types(build_evaluator(_cfg(), name)) == [COCOPanopticEvaluator, SemSegEvaluator]
    assert ["INSTANCE_ON" in r.getMessage() for r in _missing_gt_warnings(caplog)] == [True]


def test_ade20k_semantic_needs_semantic_maps(dataset):
    name = dataset("ade20k_panoptic_seg", thing_contiguous=1, semantic=False)
    assert _types(build_evaluator(_cfg(), name)) == [COCOPanopticEvaluator, COCOInstanceEvaluator]


def test_nothing_evaluable_is_a_clear_error(dataset):
    name = dataset("coco_panoptic_seg", semantic=False, instance=False)
    with pytest.raises(ValueError, match="lacks ground truth"):
        build_evaluator(_cfg(panoptic=False), name)


def test_ade20k_panoptic_always_semantic_and_sparse_instance_ids(dataset):
    name = dataset("ade20k_panoptic_seg", thing_contiguous=1)
    evaluators = build_evaluator(_cfg(semantic=False), name)
    assert _types(evaluators) == [SemSegEvaluator, COCOPanopticEvaluator, COCOInstanceEvaluator]
    assert _types(build_evaluator(_cfg(semantic=False, panoptic=False, instance=False), name)) == [
        SemSegEvaluator
    ]


def test_mapillary(dataset):
    name = dataset("mapillary_vistas_panoptic_seg", thing_contiguous=1)
    expected = [COCOPanopticEvaluator, COCOInstanceEvaluator, SemSegEvaluator]
    assert _types(build_evaluator(_cfg(), name)) == expected


def test_every_official_type_is_registered():
    official = {
        "sem_seg",
        "coco",
        "coco_panoptic_seg",
        "ade20k_panoptic_seg",
        "mapillary_vistas_panoptic_seg",
        "cityscapes_sem_seg",
        "cityscapes_instance",
        "cityscapes_panoptic_seg",
    }
    assert official <= set(EVALUATOR_REGISTRY.keys())


def test_unknown_or_missing_type(dataset):
    with pytest.raises(KeyError, match="sem_seg"):
        build_evaluator(_cfg(), dataset("sem_sig"))
    DatasetCatalog.register("_test_eval_untyped", list)
    try:
        with pytest.raises(KeyError, match="evaluator_type"):
            build_evaluator(_cfg(), "_test_eval_untyped")
    finally:
        DatasetCatalog.remove("_test_eval_untyped")
        MetadataCatalog.remove("_test_eval_untyped")
