import contextlib
import filecmp
import io
import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from panopticapi.evaluation import pq_compute
from PIL import Image
from pycocotools.coco import COCO

from maskformer.data import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.shapes import (
    _PALETTES,
    GENERATOR_VERSION,
    SHAPES_CATEGORIES,
    ShapesSpec,
    ensure_shapes_dataset,
    render_image,
)
from maskformer.data.image_io import rgb2id
from tests.helpers.tiny_shapes import TINY_PREFIX, TINY_SHAPES


def _all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_same_seed_gives_same_bytes(tmp_path, shapes_root):
    spec = TINY_SHAPES
    other = ensure_shapes_dataset(str(tmp_path), spec)
    files = _all_files(shapes_root)
    assert files == _all_files(other) and len(files) == 3 * (spec.num_train + spec.num_val) + 5
    match, mismatch, errors = filecmp.cmpfiles(shapes_root, other, files, shallow=False)
    assert not mismatch and not errors


def test_different_seed_differs_and_dirname_encodes_parameters():
    a, _, _ = render_image(0, "train", 0, 64)
    b, _, _ = render_image(1, "train", 0, 64)
    assert not np.array_equal(a, b)
    assert ShapesSpec().dirname == "shapes"
    assert ShapesSpec(num_train=5).dirname != "shapes"


def test_existing_dataset_is_not_regenerated(shapes_root):
    stamp = os.path.getmtime(os.path.join(shapes_root, "train", "panoptic.json"))
    ensure_shapes_dataset(os.path.dirname(shapes_root), TINY_SHAPES)
    assert os.path.getmtime(os.path.join(shapes_root, "train", "panoptic.json")) == stamp
    assert not [n for n in os.listdir(os.path.dirname(shapes_root)) if n.startswith(".")]  # no temp left


def test_panoptic_files_load_with_panopticapi(shapes_root, tmp_path):
    gt_json = os.path.join(shapes_root, "val", "panoptic.json")
    with contextlib.redirect_stdout(io.StringIO()):
        result = pq_compute(
            gt_json,
            gt_json,
            os.path.join(shapes_root, "val", "panoptic"),
            os.path.join(shapes_root, "val", "panoptic"),
        )
    assert abs(result["All"]["pq"] - 1.0) < 1e-9


def test_instance_json_agrees_with_panoptic_pngs(shapes_root):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.path.join(shapes_root, "train", "instances.json"))
    with open(os.path.join(shapes_root, "train", "panoptic.json")) as f:
        panoptic = json.load(f)
    kinds = set()
    for ann in panoptic["annotations"]:
        pan = rgb2id(np.asarray(Image.open(os.path.join(shapes_root, "train", "panoptic", ann["file_name"]))))
        things = [s for s in ann["segments_info"] if s["category_id"] < 10]
        instances = coco.loadAnns(coco.getAnnIds(imgIds=[ann["image_id"]]))
        assert len(things) == len(instances)
        for segment, instance in zip(things, instances):
            kinds.add("rle" if isinstance(instance["segmentation"], dict) else "polygon")
            assert (coco.annToMask(instance).astype(bool) == (pan == segment["id"])).all()
            assert instance["bbox"] == segment["bbox"] and instance["area"] == segment["area"]
        assert set(np.unique(pan).tolist()) - {0} == {s["id"] for s in ann["segments_info"]}
    assert kinds == {"rle", "polygon"}


def test_semantic_png_matches_panoptic(shapes_root):
    dicts = DatasetCatalog.get(f"{TINY_PREFIX}_val_panoptic")
    for d in dicts:
        pan = rgb2id(np.asarray(Image.open(d["pan_seg_file_name"])))
        sem = np.asarray(Image.open(d["sem_seg_file_name"]))
        for s in d["segments_info"]:
            assert (sem[pan == s["id"]] == s["category_id"]).all()
        assert (sem[pan == 0] == 255).all()


def test_scene_statistics_over_many_images():
    counts_things, counts_stuff, sizes = [], [], []
    colors = {c["id"]: [] for c in SHAPES_CATEGORIES}
    for index in range(60):
        image, pan, segments = render_image(0, "train", index, 128)
        things = [s for s in segments if s["category_id"] < 10]
        counts_things.append(len(things))
        counts_stuff.append(len(segments) - len(things))
        for s in segments:
            colors[s["category_id"]].append(image[s["mask"]].mean(axis=0))
            if s["category_id"] < 10:
                ys, xs = np.nonzero(s["mask"])
                sizes.append(max(np.ptp(ys), np.ptp(xs)) + 1)
    assert 1 <= min(counts_things) and max(counts_things) <= 6
    assert set(counts_stuff) <= {1, 2, 3} and max(counts_stuff) == 3
    sizes = np.array(sizes)
    assert (sizes < 14).mean() > 0.03 and ((sizes >= 16) & (sizes <= 64)).mean() > 0.6
    # Each class keeps its typical hue (OpenCV hue = degrees / 2) while brightness varies per object.
    for category in SHAPES_CATEGORIES:
        values = np.array(colors[category["id"]], dtype=np.float32)[None] / 255
        hsv = cv2.cvtColor(values, cv2.COLOR_RGB2HSV)[0]
        centre = _PALETTES[category["name"]][0]
        hue_error = (hsv[:, 0] - centre + 180) % 360 - 180
        assert np.abs(hue_error).max() < 20, category["name"]
        assert np.ptp(hsv[:, 2]) > 0.1, category["name"]


def test_registered_metadata_is_complete(shapes_root):
    meta = MetadataCatalog.get(f"{TINY_PREFIX}_val_panoptic")
    for key in ("panoptic_root", "panoptic_json", "json_file", "sem_seg_root", "image_root"):
        assert os.path.exists(getattr(meta, key)), key
    assert meta.evaluator_type == "coco_panoptic_seg" and meta.label_divisor == 1000
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3}
    assert meta.stuff_dataset_id_to_contiguous_id[14] == 7
    assert MetadataCatalog.get(f"{TINY_PREFIX}_val_instance").evaluator_type == "coco"
    assert MetadataCatalog.get(f"{TINY_PREFIX}_val_sem_seg").stuff_classes[4] == "sky"
    assert len(DatasetCatalog.get(f"{TINY_PREFIX}_train_instance")) == TINY_SHAPES.num_train
    rle = DatasetCatalog.get(f"{TINY_PREFIX}_train_instance")[0]["annotations"][0]["segmentation"]
    assert isinstance(rle, (dict, list)) and mask_utils is not None


def _generate(root):
    ensure_shapes_dataset(root, ShapesSpec(image_size=32, num_train=6, num_val=2, seed=9))


def test_concurrent_generation_is_safe(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_generate, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    entries = os.listdir(tmp_path)
    assert entries == [ShapesSpec(image_size=32, num_train=6, num_val=2, seed=9).dirname]
    with open(os.path.join(tmp_path, entries[0], "train", "panoptic.json")) as f:
        assert len(json.load(f)["annotations"]) == 6


def test_folder_of_another_generator_version_is_refused(tmp_path):
    spec = ShapesSpec(image_size=32, num_train=2, num_val=1, seed=4)
    target = ensure_shapes_dataset(str(tmp_path), spec)
    assert open(os.path.join(target, "GENERATOR_VERSION")).read().strip() == str(GENERATOR_VERSION)
    assert ensure_shapes_dataset(str(tmp_path), spec) == target  # the current version is reused
    os.remove(os.path.join(target, "GENERATOR_VERSION"))
    with pytest.raises(RuntimeError, match=r"version 1 \(no GENERATOR_VERSION file\).*Delete the folder"):
        ensure_shapes_dataset(str(tmp_path), spec)
