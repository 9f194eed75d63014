import contextlib
import io
import json

import numpy as np
import pytest
from panopticapi.evaluation import pq_compute
from PIL import Image
from pycocotools.coco import COCO

from maskformer.data.datasets.coco_instances import load_coco_json
from maskformer.data.datasets.coco_panoptic import load_coco_panoptic_json
from maskformer.data.datasets.metadata import load_categories, panoptic_metadata
from maskformer.data.image_io import read_panoptic_ids
from tests.helpers.layouts import write_ade20k_raw, write_coco, write_coco_stuff_10k_raw
from tests.helpers.recipe_root import load_prepare_script


def test_ade20k_semantic_label_shift(tmp_path):
    raw = write_ade20k_raw(str(tmp_path), "training", 1) | write_ade20k_raw(str(tmp_path), "validation", 2)
    assert load_prepare_script("prepare_ade20k_sem_seg").convert(str(tmp_path)) == 3
    for image_id, sem in raw.items():
        split = "validation" if "_val_" in image_id else "training"
        out = np.asarray(
            Image.open(tmp_path / f"ADEChallengeData2016/annotations_detectron2/{split}/{image_id}.png")
        )
        assert out[0, 0] == 255 and (out[sem > 0] == sem[sem > 0] - 1).all()
    with pytest.raises(FileNotFoundError, match="ADEChallengeData2016"):
        load_prepare_script("prepare_ade20k_sem_seg").convert(str(tmp_path / "empty"))


def test_ade20k_panoptic_and_instance(tmp_path):
    write_ade20k_raw(str(tmp_path), "validation", 2)
    panoptic, instance = load_prepare_script("prepare_ade20k_pan_ins_seg").convert_split(str(tmp_path), "val")
    base = tmp_path / "ADEChallengeData2016"
    first = panoptic["annotations"][0]
    # wall (0) and sky (2) stuff, then bed (7) and two persons (12) from the instance map.
    assert [s["category_id"] for s in first["segments_info"]] == [0, 2, 7, 12, 12]
    pan = read_panoptic_ids(str(base / "ade20k_panoptic_val" / first["file_name"]))
    assert pan[0, 0] == 0 and pan[0, 1] == first["segments_info"][1]["id"]  # "other" is void; sky around it
    for s in first["segments_info"]:
        assert (pan == s["id"]).sum() == s["area"]
    with contextlib.redirect_stdout(io.StringIO()):
        result = pq_compute(
            str(base / "ade20k_panoptic_val.json"),
            str(base / "ade20k_panoptic_val.json"),
            str(base / "ade20k_panoptic_val"),
            str(base / "ade20k_panoptic_val"),
        )
    assert abs(result["All"]["pq"] - 1) < 1e-9
    meta = panoptic_metadata(load_categories("ade20k_150"))
    dicts = load_coco_panoptic_json(
        str(base / "ade20k_panoptic_val.json"),
        str(base / "images/validation"),
        str(base / "ade20k_panoptic_val"),
        meta,
    )
    assert dicts[0]["file_name"].endswith("ADE_val_00000001.jpg") and dicts[0]["segments_info"][2]["isthing"]
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(base / "ade20k_instance_val.json"))
    assert len(api.getAnnIds()) == 6 and sorted(api.getCatIds())[:2] == [7, 8]
    person = api.loadAnns(api.getAnnIds(catIds=[12]))[0]
    expected = np.zeros((20, 24), dtype=bool)
    expected[10:18, 12:16] = True
    assert (api.annToMask(person).astype(bool) == expected).all()
    assert len(load_coco_json(str(base / "ade20k_instance_val.json"), str(base / "images/validation"))) == 2
    assert instance["categories"][0] == {"id": 7, "name": "bed"}


def test_coco_semantic_from_panoptic(tmp_path):
    paths = write_coco(str(tmp_path))
    script = load_prepare_script("prepare_coco_semantic_from_panoptic")
    assert script.convert(str(tmp_path), ("val2017",)) == 2
    sem = np.asarray(Image.open(tmp_path / "coco/panoptic_semseg_val2017/000000000001.png"))
    expected = np.full((24, 32), 255, dtype=np.uint8)
    expected[:8] = 119  # sky-other-merged
    expected[10:20, 2:10] = 0  # person
    expected[12:16, 20:26] = 0  # crowd person keeps its class
    assert (sem == expected).all()
    with open(paths["panoptic_json"]) as f:
        assert len(json.load(f)["annotations"]) == 2


def test_coco_stuff_10k(tmp_path):
    raw = write_coco_stuff_10k_raw(str(tmp_path))
    assert load_prepare_script("prepare_coco_stuff_10k_sem_seg").convert(str(tmp_path)) == 2
    base = tmp_path / "coco/coco_stuff_10k"
    out = np.asarray(Image.open(base / "annotations_detectron2/train/COCO_train2014_000000000077.png"))
    assert out[0, 0] == 255 and out[1, 0] == 0 and out[-1, -1] == 147
    assert (base / "images_detectron2/test/COCO_train2014_000000000078.jpg").is_file()
    assert len(raw) == 2


def test_ade20k_full(tmp_path):
    from tests.helpers.layouts import write_ade20k_full_raw

    write_ade20k_full_raw(str(tmp_path))
    assert load_prepare_script("prepare_ade20k_full_sem_seg").convert(str(tmp_path)) == 2
    base = tmp_path / "ADE20K_2021_17_01"
    small = np.asarray(Image.open(base / "annotations_detectron2/validation/ADE_val_00000001.tif"))
    assert small.dtype == np.uint16 and small[0, 0] == 65535 and small[0, 1] == 2 and small[-1, -1] == 0
    big = Image.open(base / "annotations_detectron2/training/ADE_train_00000001.tif")
    assert big.size == (591, 512)  # short side 520 -> 512, long side 600 * 512 / 520 rounded
    assert Image.open(base / "images_detectron2/training/ADE_train_00000001.jpg").size == (591, 512)
