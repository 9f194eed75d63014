import contextlib
import io
import json
import os
import re

import numpy as np
import pytest
from pycocotools.coco import COCO

from maskformer.data.datasets.cityscapes import (
    load_cityscapes_instances,
    load_cityscapes_panoptic,
    load_cityscapes_semantic,
)
from maskformer.data.datasets.coco_instances import load_coco_json
from maskformer.data.datasets.coco_panoptic import load_coco_panoptic_json
from maskformer.data.datasets.metadata import load_categories, panoptic_metadata
from maskformer.data.datasets.sem_seg import load_sem_seg
from maskformer.structures.masks import segmentation_to_bitmask
from tests.helpers.layouts import write_cityscapes, write_coco


@pytest.fixture
def coco(tmp_path):
    return write_coco(str(tmp_path))


def test_instances_agree_with_pycocotools(coco):
    dicts = load_coco_json(coco["instances_json"], coco["image_root"])
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(coco["instances_json"])
    assert [d["image_id"] for d in dicts] == sorted(api.getImgIds())
    contiguous = {1: 0, 3: 1}
    for record in dicts:
        info = api.loadImgs(record["image_id"])[0]
        assert (record["height"], record["width"]) == (info["height"], info["width"])
        assert record["file_name"].endswith(info["file_name"])
        reference = api.loadAnns(api.getAnnIds(imgIds=[record["image_id"]]))
        assert len(record["annotations"]) == len(reference)
        for ours, ref in zip(record["annotations"], reference):
            assert ours["bbox"] == ref["bbox"] and ours["iscrowd"] == ref["iscrowd"]
            assert ours["category_id"] == contiguous[ref["category_id"]] and ours["bbox_mode"] == 1
            mask = segmentation_to_bitmask(ours["segmentation"], record["height"], record["width"])
            assert (mask == api.annToMask(ref).astype(bool)).all()
    assert dicts[1]["annotations"] == []


def test_unknown_instance_category_names_the_file(coco, tmp_path):
    import json

    with open(coco["instances_json"]) as f:
        data = json.load(f)
    data["categories"] = data["categories"][:1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    from maskformer.data import MetadataCatalog

    MetadataCatalog.get("_bad_coco").set(thing_dataset_id_to_contiguous_id={1: 0}, thing_classes=["person"])
    with pytest.raises(ValueError, match="(?s)bad.json.*category_id 3"):
        load_coco_json(str(bad), coco["image_root"], "_bad_coco")


def test_panoptic_loader_fields(coco, tmp_path):
    meta = panoptic_metadata(load_categories("coco_panoptic"))
    (tmp_path / "sem").mkdir()
    (tmp_path / "sem" / "000000000001.png").write_bytes(b"")
    sem_dir = str(tmp_path / "sem")
    dicts = load_coco_panoptic_json(
        coco["panoptic_json"], coco["image_root"], coco["panoptic_root"], meta, sem_dir
    )
    first = dicts[0]
    assert first["file_name"].endswith("000000000001.jpg") and first["image_id"] == 1
    assert (first["height"], first["width"]) == (24, 32)
    assert first["sem_seg_file_name"] == f"{sem_dir}/000000000001.png"
    sky = meta["stuff_dataset_id_to_contiguous_id"][187]
    assert [(s["id"], s["category_id"], s["isthing"], s["iscrowd"]) for s in first["segments_info"]] == [
        (5000, sky, False, 0),
        (1001, 0, True, 0),
        (1002, 0, True, 1),
    ]
    assert sky == 119 and dicts[1]["segments_info"] == []


def test_panoptic_unknown_category_and_missing_files(coco, tmp_path):
    meta = panoptic_metadata([{"id": 1, "name": "person", "isthing": 1}])
    with pytest.raises(ValueError, match="000000000001.jpg.*category_id 187"):
        load_coco_panoptic_json(coco["panoptic_json"], coco["image_root"], coco["panoptic_root"], meta)
    meta = panoptic_metadata(load_categories("coco_panoptic"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_coco_panoptic_json(coco["panoptic_json"], str(tmp_path / "nowhere"), coco["panoptic_root"], meta)


def test_sem_seg_pairs_by_name_and_reports_missing_images(tmp_path):
    (tmp_path / "img" / "a").mkdir(parents=True)
    (tmp_path / "gt" / "a").mkdir(parents=True)
    for stem in ("x", "y"):
        (tmp_path / "img" / "a" / f"{stem}.jpg").write_bytes(b"")
        (tmp_path / "gt" / "a" / f"{stem}.png").write_bytes(b"")
    (tmp_path / "img" / "a" / "z.jpg").write_bytes(b"")
    dicts = load_sem_seg(str(tmp_path / "gt"), str(tmp_path / "img"))
    assert [d["image_id"] for d in dicts] == ["a/x", "a/y"]
    assert dicts[0]["sem_seg_file_name"].endswith("a/x.png") and dicts[0]["file_name"].endswith("a/x.jpg")
    (tmp_path / "gt" / "a" / "w.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="1 label maps.*a/w"):
        load_sem_seg(str(tmp_path / "gt"), str(tmp_path / "img"))


def test_cityscapes_semantic_and_instances(tmp_path):
    base = write_cityscapes(str(tmp_path))
    image_dir, gt_dir = f"{base}/leftImg8bit/val", f"{base}/gtFine/val"
    sem = load_cityscapes_semantic(image_dir, gt_dir)
    assert len(sem) == 1 and sem[0]["sem_seg_file_name"].endswith("_gtFine_labelTrainIds.png")
    inst = load_cityscapes_instances(image_dir, gt_dir, load_categories("cityscapes_instance"))
    anns = inst[0]["annotations"]
    assert [(a["category_id"], a["iscrowd"]) for a in anns] == [
        (0, 1),
        (2, 0),
        (2, 0),
    ]  # person crowd, 2 cars
    car = segmentation_to_bitmask(anns[1]["segmentation"], 16, 32)
    expected = np.zeros((16, 32), dtype=bool)
    expected[8:12, 4:10] = True
    assert (car == expected).all() and anns[1]["bbox"] == [4, 8, 6, 4]


def _cityscapes_panoptic(base: str) -> list[dict]:
    table = load_categories("cityscapes")
    meta = {
        "thing_dataset_id_to_contiguous_id": {c["id"]: c["trainId"] for c in table if c["isthing"]},
        "stuff_dataset_id_to_contiguous_id": {c["id"]: c["trainId"] for c in table},
    }
    return load_cityscapes_panoptic(
        f"{base}/leftImg8bit/val",
        f"{base}/gtFine/cityscapes_panoptic_val",
        f"{base}/gtFine/cityscapes_panoptic_val.json",
        meta,
        f"{base}/gtFine/val",
    )


def test_cityscapes_panoptic_uses_train_ids(tmp_path):
    record = _cityscapes_panoptic(write_cityscapes(str(tmp_path)))[0]
    assert os.path.isfile(record["file_name"]) and os.path.isfile(record["pan_seg_file_name"])
    assert os.path.isfile(record["sem_seg_file_name"])
    assert [(s["category_id"], s["isthing"]) for s in record["segments_info"]] == [(10, False), (13, True)]


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("file_name", "../../../leftImg8bit/val/frankfurt/x.png", "leads out of its folder"),
        ("image_id", "frankfurt/../../../../../etc/x", "leads out of its folder"),
        ("image_id", "frankfurt_000000_000294", "images would be paired with another image's labels"),
    ],
)
def test_cityscapes_panoptic_refuses_escaping_names_and_duplicates(tmp_path, field, value, error):
    base = write_cityscapes(str(tmp_path))
    path = f"{base}/gtFine/cityscapes_panoptic_val.json"
    with open(path) as f:
        data = json.load(f)
    data["annotations"].append({**data["annotations"][0], "file_name": "second.png", field: value})
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match=f"(?s)cityscapes_panoptic_val.json.*{re.escape(error)}.*Fix"):
        _cityscapes_panoptic(base)
