"""Datasets declared in DATASETS.REGISTER, missing-file messages and the pre-flight checks."""

from __future__ import annotations

import json
import os

import pytest

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, MetadataCatalog, register_builtin_datasets
from maskformer.data.datasets.builtin import register_datasets
from maskformer.data.datasets.from_config import register_datasets_from_config
from maskformer.data.datasets.shapes import write_shapes_dataset
from maskformer.data.preflight import DatasetCheckError, check_datasets, preflight_problems
from tests.helpers.tiny_shapes import TINY_SHAPES


def _panoptic_entry(name: str, split: str, **extra) -> dict:
    base = f"mine/{split}"
    return {
        "name": name,
        "format": "coco_panoptic",
        "image_root": f"{base}/images",
        "panoptic_root": f"{base}/panoptic",
        "panoptic_json": f"{base}/panoptic.json",
        "instances_json": f"{base}/instances.json",
        "sem_seg_root": f"{base}/sem_seg",
        **extra,
    }


@pytest.fixture
def own_root(tmp_path):
    """A datasets root with the tiny shapes set, in COCO formats, under ``mine/``."""
    write_shapes_dataset(str(tmp_path / "mine"), TINY_SHAPES)
    yield str(tmp_path)
    for name in DatasetCatalog.list():
        if name.startswith("own_"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def _cfg(*entries: dict, num_classes: int = 8):
    cfg = get_cfg()
    cfg.DATASETS.REGISTER = list(entries)
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = num_classes
    cfg.DATASETS.PREFLIGHT_NUM_IMAGES = 2
    return cfg


def test_three_formats_register_from_the_config(own_root):
    cfg = _cfg(
        _panoptic_entry("own_pan", "train"),
        {"name": "own_inst", "format": "coco_instance", "image_root": "mine/val/images",
         "json_file": "mine/val/instances.json"},
        {"name": "own_sem", "format": "sem_seg", "image_root": "mine/val/images",
         "sem_seg_root": "mine/val/sem_seg", "image_ext": "png",
         "classes": ["circle", "square", "triangle", "star", "sky", "grass", "water", "wall"]},
    )  # fmt: skip
    names = register_datasets(cfg, own_root)
    assert {"own_pan", "own_inst", "own_sem"} <= set(names)
    pan = MetadataCatalog.get("own_pan")
    assert pan.evaluator_type == "coco_panoptic_seg" and len(pan.stuff_classes) == 8
    assert pan.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3}
    assert pan.stuff_dataset_id_to_contiguous_id[14] == 7
    assert pan.panoptic_json == os.path.join(own_root, "mine/train/panoptic.json")
    assert len(DatasetCatalog.get("own_pan")) == TINY_SHAPES.num_train
    assert MetadataCatalog.get("own_inst").thing_classes == ["circle", "square", "triangle", "star"]
    assert MetadataCatalog.get("own_sem").stuff_classes[4] == "sky"
    assert len(DatasetCatalog.get("own_sem")) == TINY_SHAPES.num_val
    assert register_datasets_from_config(cfg, own_root) == []  # already registered: skipped
    assert preflight_problems(cfg, "own_pan", 2) == []
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4  # the instance task counts the 4 thing classes
    assert preflight_problems(cfg, "own_inst", 2) == []


def test_inline_categories_and_classes_shorthand(own_root):
    with open(os.path.join(own_root, "mine/val/panoptic.json")) as f:
        categories = json.load(f)["categories"]
    inline = [{k: c[k] for k in ("id", "name", "isthing")} for c in categories]
    register_datasets(_cfg(_panoptic_entry("own_inline", "val", categories=inline)), own_root)
    meta = MetadataCatalog.get("own_inline")
    assert meta.thing_classes == ["circle", "square", "triangle", "star"]
    assert len({tuple(c) for c in meta.stuff_colors}) == 8  # generated colours are distinct
    shorthand = {"name": "own_short", "format": "coco_instance", "image_root": "mine/val/images",
                 "json_file": "mine/val/instances.json", "classes": ["circle", "square", "triangle", "star"]}
    register_datasets(_cfg(shorthand), own_root)  # ids 1..4, as in the instance JSON
    assert MetadataCatalog.get("own_short").thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3}
    assert len(DatasetCatalog.get("own_short")) == TINY_SHAPES.num_val


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "own_x", "format": "coco"}, r"'format' is 'coco'; use one of \['coco_instance'"),
        ({"name": "own_x", "format": "sem_seg", "image_root": "a"}, r"needs \['sem_seg_root'\]"),
        (
            {"name": "own_x", "format": "sem_seg", "image_root": "a", "sem_seg_root": "b", "clases": ["a"]},
            "unknown key 'clases' for format 'sem_seg'. Did you mean 'classes'",
        ),
        ({"name": "own_x", "format": "sem_seg", "image_root": "a", "sem_seg_root": "b"},
         "needs 'categories'"),
        ({"name": "own_x", "format": "coco_instance", "image_root": "a", "json_file": "b",
          "classes": ["a"], "things": ["b"]}, r"'things' names \['b'\]"),
    ],
)  # fmt: skip
def test_malformed_entries_name_the_entry_and_key(entry, message, tmp_path):
    with pytest.raises(ValueError, match=message) as info:
        register_datasets(_cfg(entry), str(tmp_path))
    assert "DATASETS.REGISTER[0] (name 'own_x')" in str(info.value)


def test_missing_annotation_file_names_path_dataset_root_and_readme(own_root):
    json_file = os.path.join(own_root, "mine/val/panoptic.json")
    with open(json_file) as f:
        categories = json.load(f)["categories"]
    os.remove(json_file)
    readme = "section 'Your own data' of datasets/README.md"
    expected = ["$MASKFORMER_DATASETS", "$DETECTRON2_DATASETS", readme]
    # Categories read from the missing JSON: registration itself fails.
    with pytest.raises(FileNotFoundError) as info:
        register_datasets(_cfg(_panoptic_entry("own_gone", "val")), own_root)
    for part in ("DATASETS.REGISTER[0] (dataset 'own_gone')", f"panoptic_json '{json_file}'", *expected):
        assert part in str(info.value)
    # Categories given: the dataset registers, loading it fails with the same pointers.
    register_datasets(_cfg(_panoptic_entry("own_gone", "val", categories=categories)), own_root)
    with pytest.raises(FileNotFoundError) as info:
        DatasetCatalog.get("own_gone")
    for part in ("Dataset 'own_gone'", json_file, *expected):
        assert part in str(info.value)
    with pytest.raises(DatasetCheckError, match="own_gone.*cannot be loaded.*panoptic.json"):
        check_datasets(_cfg(), ["own_gone"])


def test_builtin_missing_files_point_to_their_readme_section(tmp_path):
    register_builtin_datasets(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="section 'ADE20K \\(SceneParsing, 150 classes\\)'"):
        DatasetCatalog.get("ade20k_sem_seg_val")


def test_preflight_finds_every_failure_before_training(own_root):
    register_datasets(_cfg(_panoptic_entry("own_pf", "train")), own_root)
    assert preflight_problems(_cfg(), "own_pf", 2) == []
    for wrong in (4, 9):  # too small (criterion IndexError) and too large (evaluation failure)
        problems = preflight_problems(_cfg(num_classes=wrong), "own_pf", 2)
        assert problems[0].where == "MODEL.SEM_SEG_HEAD.NUM_CLASSES"
        assert f"is {wrong} but dataset 'own_pf' has 8 classes" in str(problems[0])
        assert "set MODEL.SEM_SEG_HEAD.NUM_CLASSES 8" in str(problems[0])
    missing = os.path.join(own_root, "mine/train/images/000004.png")
    os.remove(missing)  # not in the sample of 2 records: found by the existence check of all records
    (problem,) = preflight_problems(_cfg(), "own_pf", 2)
    assert problem.where == missing and "1 of 12 such files are missing" in problem.message
    with pytest.raises(DatasetCheckError, match="000004.png: does not exist") as info:
        check_datasets(_cfg(), ["own_pf"])
    assert "DATASETS.PREFLIGHT_CHECK False" in str(info.value)
    cfg = _cfg()
    cfg.DATASETS.PREFLIGHT_CHECK = False
    check_datasets(cfg, ["own_pf"])  # skipped on request
