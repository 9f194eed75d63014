import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from maskformer.data import DATASET_MAPPER_REGISTRY, DatasetCatalog, build_mapper
from maskformer.data.datasets.coco_panoptic import load_coco_panoptic_json
from maskformer.data.datasets.metadata import load_categories, panoptic_metadata
from maskformer.data.image_io import id2rgb, rgb2id
from maskformer.data.mappers import PanopticMapper, SemanticMapper
from maskformer.data.transforms import RandomFlip, ResizeShortestEdge
from tests.helpers.layouts import write_coco
from tests.helpers.tiny_shapes import TINY_PREFIX

_TRAIN_VIEWS = {
    "mask_former_semantic": "sem_seg",
    "mask_former_panoptic": "panoptic",
    "mask_former_instance": "instance",
    "coco_instance_lsj": "instance",
    "coco_panoptic_lsj": "panoptic",
}


def _configure(cfg, mapper_name, crop=True, color=True):
    cfg.INPUT.DATASET_MAPPER_NAME = mapper_name
    cfg.DATASETS.TRAIN = (f"{TINY_PREFIX}_train_{_TRAIN_VIEWS[mapper_name]}",)
    cfg.INPUT.CROP.ENABLED = crop
    cfg.INPUT.CROP.TYPE = "absolute"
    cfg.INPUT.CROP.SIZE = [48, 48]
    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 0.75
    cfg.INPUT.COLOR_AUG_SSD = color
    return cfg


def test_every_mapper_is_registered():
    assert set(_TRAIN_VIEWS) | {"test", "detr_panoptic"} <= set(DATASET_MAPPER_REGISTRY.keys())


@pytest.mark.parametrize("name", sorted(_TRAIN_VIEWS))
def test_mapper_output_contract(data_cfg, name):
    cfg = _configure(data_cfg, name)
    mapper = build_mapper(cfg, is_train=True)
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    for index in range(4):
        out = mapper(dicts[index], np.random.default_rng(index))
        image, instances = out["image"], out["instances"]
        assert image.dtype == torch.uint8 and image.shape[0] == 3
        assert instances.image_size == tuple(image.shape[1:])
        assert instances.gt_masks.dtype == torch.bool and instances.gt_masks.shape[1:] == image.shape[1:]
        assert instances.gt_classes.dtype == torch.int64 and len(instances.gt_classes) == len(
            instances.gt_masks
        )
        if name in ("mask_former_semantic", "coco_instance_lsj"):  # the others keep emptied targets
            assert instances.gt_masks.flatten(1).any(1).all()
        assert (out["height"], out["width"]) == (64, 64)
        if "sem_seg" in out:
            assert out["sem_seg"].dtype == torch.int64 and out["sem_seg"].shape == image.shape[1:]
        if name.endswith("lsj"):
            assert tuple(image.shape[1:]) == (64, 64)


def _unaugmented(cfg, name):
    """The mapper without random augmentations, so targets equal the annotation exactly."""
    mapper = build_mapper(_configure(cfg, name, crop=False, color=False), is_train=True)
    mapper.augmentations = []
    return mapper


def test_panoptic_targets_match_segments_info(data_cfg):
    mapper = _unaugmented(data_cfg, "mask_former_panoptic")
    for record in DatasetCatalog.get(f"{TINY_PREFIX}_train_panoptic")[:5]:
        out = mapper(record)
        pan = rgb2id(np.asarray(Image.open(record["pan_seg_file_name"])))
        segments = [s for s in record["segments_info"] if not s["iscrowd"]]
        assert out["instances"].gt_classes.tolist() == [s["category_id"] for s in segments]
        for mask, s in zip(out["instances"].gt_masks, segments):
            assert (mask.numpy() == (pan == s["id"])).all()
        assert out["sem_seg"].tolist() == np.asarray(Image.open(record["sem_seg_file_name"])).tolist()


def test_semantic_targets_are_one_mask_per_present_class(data_cfg):
    mapper = _unaugmented(data_cfg, "mask_former_semantic")
    for record in DatasetCatalog.get(f"{TINY_PREFIX}_train_sem_seg")[:5]:
        out = mapper(record)
        sem = out["sem_seg"]
        present = [c for c in torch.unique(sem).tolist() if c != 255]
        assert out["instances"].gt_classes.tolist() == present
        for mask, c in zip(out["instances"].gt_masks, present):
            assert torch.equal(mask, sem == c)


def test_instance_targets_match_annotations(data_cfg):
    mapper = _unaugmented(data_cfg, "mask_former_instance")
    from maskformer.structures.masks import segmentation_to_bitmask

    for record in DatasetCatalog.get(f"{TINY_PREFIX}_train_instance")[:5]:
        out = mapper(record)
        anns = [a for a in record["annotations"] if not a["iscrowd"]]
        assert out["instances"].gt_classes.tolist() == [a["category_id"] for a in anns]
        for mask, a in zip(out["instances"].gt_masks, anns):
            assert (mask.numpy() == segmentation_to_bitmask(a["segmentation"], 64, 64)).all()


def test_padding_uses_the_ignore_value(data_cfg):
    cfg = _configure(data_cfg, "mask_former_panoptic", crop=False, color=False)
    cfg.INPUT.SIZE_DIVISIBILITY = 32
    cfg.INPUT.MIN_SIZE_TRAIN = [40]
    mapper = build_mapper(cfg, is_train=True)
    out = mapper(DatasetCatalog.get(cfg.DATASETS.TRAIN[0])[0], np.random.default_rng(0))
    assert tuple(out["image"].shape[1:]) == (64, 64)
    assert (out["image"][:, 40:] == 128).all() and (out["image"][:, :, 40:] == 128).all()
    assert (out["sem_seg"][40:] == 255).all() and (out["sem_seg"][:40, :40] != 255).any()
    assert not out["instances"].gt_masks[:, 40:].any() and not out["instances"].gt_masks[:, :, 40:].any()


def test_mapping_is_reproducible_from_the_rng(data_cfg):
    mapper = build_mapper(_configure(data_cfg, "mask_former_panoptic"), is_train=True)
    record = DatasetCatalog.get(data_cfg.DATASETS.TRAIN[0])[1]
    a, b = (mapper(record, np.random.default_rng(11)) for _ in range(2))
    assert torch.equal(a["image"], b["image"]) and torch.equal(
        a["instances"].gt_masks, b["instances"].gt_masks
    )


def _label_coded_panoptic(tmp_path, rng):
    """A panoptic image whose colour encodes each pixel's class, for pixel-wise alignment checks."""
    h, w = 40, 56
    pan = np.full((h, w), 1, dtype=np.int64)
    classes = {1: 4}
    for seg_id in range(2, 6):
        y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
        pan[y : y + rng.integers(6, 14), x : x + rng.integers(6, 14)] = seg_id
        classes[seg_id] = int(rng.integers(0, 4))
    palette = np.array([[250, 0, 0], [0, 250, 0], [0, 0, 250], [250, 250, 0], [0, 250, 250]], dtype=np.uint8)
    image = palette[np.vectorize(classes.get)(pan)]
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(id2rgb(pan)).save(tmp_path / "pan.png")
    segments = [{"id": k, "category_id": v, "iscrowd": 0} for k, v in classes.items() if (pan == k).any()]
    return {
        "file_name": str(tmp_path / "img.png"),
        "pan_seg_file_name": str(tmp_path / "pan.png"),
        "segments_info": segments,
        "image_id": 0,
    }, palette


@pytest.mark.parametrize("seed", range(3))
def test_flip_and_resize_keep_masks_on_their_pixels(tmp_path, seed):
    rng = np.random.default_rng(seed)
    record, palette = _label_coded_panoptic(tmp_path, rng)
    mapper = PanopticMapper(augmentations=[ResizeShortestEdge([30, 90], 300, "range"), RandomFlip(prob=0.5)])
    out = mapper(record, rng)
    image = out["image"].permute(1, 2, 0).numpy().astype(int)
    for mask, c in zip(out["instances"].gt_masks.numpy(), out["instances"].gt_classes.tolist()):
        inner = np.zeros_like(mask)  # pixels whose 3x3 neighbourhood is inside the mask (bilinear support)
        inner[1:-1, 1:-1] = np.all(
            [
                mask[1 + dy : mask.shape[0] - 1 + dy, 1 + dx : mask.shape[1] - 1 + dx]
                for dy in (-1, 0, 1)
                for dx in (-1, 0, 1)
            ],
            axis=0,
        )
        if inner.any():
            assert np.abs(image[inner] - palette[c]).max() <= 2


def test_crowd_segments_are_not_targets(tmp_path):
    paths = write_coco(str(tmp_path))
    meta = panoptic_metadata(load_categories("coco_panoptic"))
    dicts = load_coco_panoptic_json(paths["panoptic_json"], paths["image_root"], paths["panoptic_root"], meta)
    out = PanopticMapper(augmentations=[])(dicts[0])
    assert out["instances"].gt_classes.tolist() == [meta["stuff_dataset_id_to_contiguous_id"][187], 0]
    assert "sem_seg" not in out
    empty = PanopticMapper(augmentations=[])(dicts[1])
    assert len(empty["instances"]) == 0 and empty["instances"].gt_masks.shape == (0, 16, 16)


def test_semantic_label_out_of_range_is_a_clear_error(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 7, dtype=np.uint8)).save(tmp_path / "a_label.png")
    record = {"file_name": str(tmp_path / "a.png"), "sem_seg_file_name": str(tmp_path / "a_label.png")}
    with pytest.raises(ValueError, match="a_label.png.*outside \\[0, 5\\)"):
        SemanticMapper(augmentations=[], num_classes=5)(record)


def test_test_mapper_resizes_and_passes_fields_through(data_cfg):
    mapper = build_mapper(data_cfg, is_train=False)
    record = DatasetCatalog.get(f"{TINY_PREFIX}_val_panoptic")[0]
    data_cfg.INPUT.MIN_SIZE_TEST = 96
    out = build_mapper(data_cfg, is_train=False)(record)
    assert tuple(out["image"].shape) == (3, 96, 96) and (out["height"], out["width"]) == (64, 64)
    assert out["segments_info"] == record["segments_info"] and "instances" not in out
    assert tuple(mapper(record)["image"].shape) == (3, 64, 64)


def test_panoptic_json_round_trip_written_by_fixture(tmp_path):
    paths = write_coco(str(tmp_path))
    with open(paths["panoptic_json"]) as f:
        assert len(json.load(f)["annotations"]) == 2
    assert os.path.isdir(paths["panoptic_root"])


def test_bgr_format_reverses_the_channels(data_cfg):
    from maskformer.data.mappers import InferenceMapper

    record = DatasetCatalog.get(f"{TINY_PREFIX}_val_panoptic")[0]
    rgb = InferenceMapper(augmentations=[], image_format="RGB")(record)["image"]
    bgr = InferenceMapper(augmentations=[], image_format="BGR")(record)["image"]
    assert torch.equal(rgb.flip(0), bgr)
    with pytest.raises(ValueError, match="INPUT.FORMAT"):
        InferenceMapper(augmentations=[], image_format="YUV")(record)
