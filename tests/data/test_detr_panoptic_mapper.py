"""``detr_panoptic``: MaskFormer's COCO panoptic recipe (flip -> p=0.5 DETR crop -> resize)."""


import numpy as np
import pytest
from PIL import Image

from maskformer.config import get_cfg
from maskformer.data import build_mapper
from maskformer.data.image_io import id2rgb
from maskformer.data.mappers import DETRPanopticMapper
from maskformer.data.transforms import (
    Augmentation,
    RandomApply,
    RandomCrop,
    RandomFlip,
    ResizeShortestEdge,
    ResizeTransform,
    Transform,
)
from tests.helpers.paths import REPO

CONFIG = REPO / "configs/maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml"
COLOURS = {1: (200, 0, 0), 2: (0, 200, 0), 3: (0, 0, 200), 4: (200, 200, 0)}


def _official_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    return cfg


def test_official_config_builds_the_detr_recipe():
    cfg = _official_cfg()
    mapper = build_mapper(cfg, is_train=True)
    assert type(mapper) is DETRPanopticMapper
    flip, crop, resize = mapper.augmentations
    assert type(flip) is RandomFlip and flip.horizontal and flip.prob == 0.5
    assert type(crop) is RandomApply and crop.prob == 0.5
    pre_crop, window = crop.augmentations
    assert (pre_crop.lengths, pre_crop.sample_style) == ([400, 500, 600], "choice")
    assert (window.crop_type, window.crop_size) == ("absolute_range", (384, 600))
    assert (resize.lengths, resize.max_size) == (list(cfg.INPUT.MIN_SIZE_TRAIN), 1333)
    assert resize.sample_style == "choice" and mapper.size_divisibility == -1
    cfg.INPUT.CROP.ENABLED = False
    without_crop = build_mapper(cfg, is_train=True).augmentations
    assert [type(a) for a in without_crop] == [RandomFlip, ResizeShortestEdge]


def _record(tmp_path):
    """60x80 image coloured by segment: 1 = background (stuff), 2 = a 6x6 top-left corner object,
    3 = a crowd region, 4 = a central object; segment 5 is listed but has no pixel."""
    pan = np.ones((60, 80), dtype=np.int64)
    pan[:6, :6] = 2
    pan[40:50, 60:70] = 3
    pan[20:40, 30:50] = 4
    image = np.array([COLOURS[i] for i in range(1, 5)], dtype=np.uint8)[pan - 1]
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(id2rgb(pan)).save(tmp_path / "pan.png")
    Image.fromarray(np.zeros((60, 80), dtype=np.uint8)).save(tmp_path / "sem.png")
    segments = [
        {"id": 1, "category_id": 7, "iscrowd": 0},
        {"id": 2, "category_id": 0, "iscrowd": 0},
        {"id": 3, "category_id": 0, "iscrowd": 1},
        {"id": 4, "category_id": 2, "iscrowd": 0},
        {"id": 5, "category_id": 3, "iscrowd": 0},
    ]
    return {
        "file_name": str(tmp_path / "img.png"),
        "pan_seg_file_name": str(tmp_path / "pan.png"),
        "sem_seg_file_name": str(tmp_path / "sem.png"),
        "segments_info": segments,
        "image_id": 0,
    }


def test_targets_one_per_non_crowd_segment_through_both_branches(tmp_path):
    cfg = _official_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (32,)
    cfg.INPUT.SIZE_DIVISIBILITY = 32  # ignored, as officially: the model pads the batch
    mapper = build_mapper(cfg, is_train=True)
    record = _record(tmp_path)
    shapes, corner_kept = set(), []
    for seed in range(24):
        out = mapper(record, np.random.default_rng(seed))
        image, instances = out["image"], out["instances"]
        assert min(image.shape[1:]) == 32 and "sem_seg" not in out
        shapes.add(tuple(image.shape[1:]))
        assert instances.gt_classes.tolist() == [7, 0, 2, 3]  # crowd dropped, empty ones kept
        masks = instances.gt_masks
        assert masks.shape[1:] == image.shape[1:] and not masks[3].any()
        corner_kept.append(bool(masks[1].any()))
        for mask, segment_id in zip(masks[[0, 2]], (1, 4)):
            colour = np.array(COLOURS[segment_id])
            pixels = image.permute(1, 2, 0).numpy()[mask.numpy()].astype(int)
            assert np.median(np.abs(pixels - colour).max(axis=1)) <= 2
    assert (32, 43) in shapes and len(shapes) > 2  # uncropped 60x80 -> 32x43; crops change the aspect
    assert any(corner_kept) and not all(corner_kept)  # the crop removes the corner object sometimes


class _Halve(Augmentation):
    """Halves the image; records the size it saw."""

    def __init__(self):
        self.seen = []

    def get_transform(self, image, sem_seg, rng):
        h, w = image.shape[:2]
        self.seen.append((h, w))
        return ResizeTransform(h, w, h // 2, w // 2)


def test_random_apply_is_all_or_nothing_with_its_probability():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    first, second = _Halve(), _Halve()
    rng = np.random.default_rng(0)
    out, sem, t = RandomApply([first, second], prob=1.0).apply(image, np.zeros((40, 60)), rng)
    assert out.shape == (10, 15, 3) and sem.shape == (10, 15)
    assert first.seen == [(40, 60)] and second.seen == [(20, 30)]  # each sees the previous output
    assert type(RandomApply([first], prob=0.0).get_transform(image, None, rng)) is Transform
    applied = sum(
        RandomApply([RandomCrop("absolute", (5, 5))], 0.5).apply(image, None, rng)[0].shape[0] == 5
        for _ in range(400)
    )
    assert 170 <= applied <= 230
    with pytest.raises(ValueError, match="probability"):
        RandomApply([], prob=1.5)
