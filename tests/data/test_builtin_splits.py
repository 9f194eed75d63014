import json
import os
import subprocess
import sys

import pytest

from maskformer.data import DatasetCatalog, MetadataCatalog, register_builtin_datasets
from maskformer.data.datasets.builtin import datasets_root
from maskformer.data.datasets.metadata import load_categories
from tests.helpers.layouts import write_cityscapes, write_coco

_OFFICIAL = {
    "coco_2017_{s}_panoptic": ("coco_panoptic_seg", 133),
    "coco_2017_{s}_panoptic_with_sem_seg": ("coco_panoptic_seg", 133),
    "coco_2017_{s}": ("coco", 80),
    "ade20k_sem_seg_{s}": ("sem_seg", 150),
    "ade20k_panoptic_{s}": ("ade20k_panoptic_seg", 150),
    "ade20k_instance_{s}": ("coco", 100),
    "ade20k_full_sem_seg_{s}": ("sem_seg", 847),
    "cityscapes_fine_sem_seg_{s}": ("cityscapes_sem_seg", 19),
    "cityscapes_fine_instance_seg_{s}": ("cityscapes_instance", 8),
    "cityscapes_fine_panoptic_{s}": ("cityscapes_panoptic_seg", 19),
    "mapillary_vistas_sem_seg_{s}": ("sem_seg", 65),
    "mapillary_vistas_panoptic_{s}": ("mapillary_vistas_panoptic_seg", 65),
    "shapes_{s}_panoptic": ("coco_panoptic_seg", 8),
    "shapes_{s}_instance": ("coco", 4),
    "shapes_{s}_sem_seg": ("sem_seg", 8),
}


@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    register_builtin_datasets(str(tmp_path_factory.mktemp("root")))
    return DatasetCatalog.list()


@pytest.mark.parametrize("pattern", sorted(_OFFICIAL))
def test_official_split_names_and_metadata(builtin, pattern):
    evaluator, num_classes = _OFFICIAL[pattern]
    for split in ("train", "val"):
        name = pattern.format(s=split)
        assert name in builtin
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == evaluator
        classes = meta.thing_classes if evaluator in ("coco", "cityscapes_instance") else meta.stuff_classes
        assert len(classes) == num_classes
    assert {"coco_2017_train_stuff_10k_sem_seg", "coco_2017_test_stuff_10k_sem_seg"} <= set(builtin)


def test_ignore_labels_and_idempotence(builtin):
    assert MetadataCatalog.get("ade20k_full_sem_seg_val").ignore_label == 65535
    assert MetadataCatalog.get("mapillary_vistas_sem_seg_val").ignore_label == 65
    assert MetadataCatalog.get("mapillary_vistas_panoptic_val").ignore_label == 65
    assert MetadataCatalog.get("coco_2017_val_panoptic").label_divisor == 1000
    assert register_builtin_datasets() == []


def test_cityscapes_panoptic_names_every_class_as_thing(builtin):
    # As Detectron2 registers it: the panoptic model's instances carry 19-class train ids.
    meta = MetadataCatalog.get("cityscapes_fine_panoptic_val")
    assert meta.thing_classes == meta.stuff_classes and len(meta.thing_classes) == 19
    assert sorted(meta.thing_dataset_id_to_contiguous_id.values()) == list(range(11, 19))
    assert len(MetadataCatalog.get("cityscapes_fine_instance_seg_val").thing_classes) == 8


def test_category_tables():
    counts = {
        "coco_panoptic": (133, 80),
        "coco_instance": (80, 80),
        "ade20k_150": (150, 100),
        "coco_stuff_171": (171, 80),
        "cityscapes": (19, 8),
        "cityscapes_instance": (8, 8),
        "mapillary_vistas_65": (65, 37),
    }
    for name, (total, things) in counts.items():
        table = load_categories(name)
        assert len(table) == total and sum(c["isthing"] for c in table) == things, name
        assert len({c["id"] for c in table}) == total and all(len(c["color"]) == 3 for c in table)
    full = load_categories("ade20k_full_847")
    assert [c["trainId"] for c in full] == list(range(847)) and full[0]["name"] == "wall"
    with pytest.raises(FileNotFoundError, match="Known tables"):
        load_categories("nope")


def test_root_resolution(monkeypatch):
    monkeypatch.delenv("MASKFORMER_DATASETS", raising=False)
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    assert datasets_root() == "datasets"
    monkeypatch.setenv("DETECTRON2_DATASETS", "/d2")
    assert datasets_root() == "/d2"
    monkeypatch.setenv("MASKFORMER_DATASETS", "/mf")
    assert datasets_root() == "/mf" and datasets_root("/explicit") == "/explicit"


def test_builtin_splits_load_real_layouts(tmp_path):
    write_coco(str(tmp_path))
    write_cityscapes(str(tmp_path))
    code = (
        "import json; from maskformer.data import DatasetCatalog, register_builtin_datasets\n"
        "register_builtin_datasets()\n"
        "names = ['coco_2017_val', 'coco_2017_val_panoptic', 'cityscapes_fine_sem_seg_val',\n"
        "         'cityscapes_fine_instance_seg_val']\n"
        "out = {n: len(DatasetCatalog.get(n)) for n in names}\n"
        "print(json.dumps(out))"
    )
    env = dict(os.environ, MASKFORMER_DATASETS=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "coco_2017_val": 2,
        "coco_2017_val_panoptic": 2,
        "cityscapes_fine_sem_seg_val": 1,
        "cityscapes_fine_instance_seg_val": 1,
    }
