"""Targets as the official mappers build them: emptied targets kept (only COCO instance LSJ drops
them), polygons transformed as polygons and rasterised at the training resolution."""

import numpy as np
from PIL import Image

from maskformer.config import get_cfg
from maskformer.data import build_mapper
from maskformer.data.image_io import id2rgb
from maskformer.data.mappers import InstanceMapper, LSJInstanceMapper, PanopticMapper
from maskformer.data.transforms import (
    Augmentation,
    CropTransform,
    HFlipTransform,
    ResizeTransform,
    TransformList,
)
from maskformer.structures.masks import (
    bitmask_to_rle,
    clip_polygon,
    polygons_to_bitmask,
    rle_to_bitmask,
    segmentation_to_bitmask,
)


class _Fixed(Augmentation):
    """Always the given transform."""

    def __init__(self, transform):
        self.transform = transform

    def get_transform(self, image, sem_seg, rng):
        return self.transform


# 20x30 image -> resize x1.5 to 30x45 -> crop the window x in [6, 36), y in [4, 24) -> flip.
RESIZE, CROP, FLIP = ResizeTransform(20, 30, 30, 45), CropTransform(6, 4, 30, 20), HFlipTransform(30)
AUGMENTATIONS = [_Fixed(RESIZE), _Fixed(CROP), _Fixed(FLIP)]
TRIANGLE = [2, 3, 17, 5, 8, 16]
# x1.5, shifted by (-6, -4): (-3, 0.5), (19.5, 3.5), (6, 20); clipped at x = 0 (new vertices
# (0, 0.9) and (0, 7)); flipped x -> 30 - x.
TRIANGLE_AFTER = [30, 0.9, 10.5, 3.5, 24, 20, 30, 7]


def _rle_car():
    car = np.zeros((20, 30), dtype=bool)
    car[10:15, 20:28] = True
    return car


def _instance_record(tmp_path):
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    crowd = np.zeros((20, 30), dtype=bool)
    crowd[:3, :3] = True
    annotations = [
        {"category_id": 3, "iscrowd": 0, "segmentation": [TRIANGLE]},
        {"category_id": 1, "iscrowd": 1, "segmentation": bitmask_to_rle(crowd)},
        {"category_id": 2, "iscrowd": 0, "segmentation": bitmask_to_rle(_rle_car())},
        {"category_id": 4, "iscrowd": 0, "segmentation": [[26, 16, 29, 16, 29, 19, 26, 19]]},  # cropped away
        {"category_id": 5, "iscrowd": 0, "segmentation": [[10, 8.1, 14, 8.1, 14, 8.2]]},  # area, no pixel
    ]
    return {"file_name": str(tmp_path / "img.png"), "height": 20, "width": 30, "annotations": annotations}


def test_polygons_are_transformed_then_rasterised_rle_masks_stay_bitmaps(tmp_path):
    out = InstanceMapper(augmentations=AUGMENTATIONS)(_instance_record(tmp_path))
    instances = out["instances"]
    assert instances.gt_classes.tolist() == [3, 2, 4, 5]  # crowd dropped, emptied ones kept
    masks = instances.gt_masks.numpy()
    expected_triangle = polygons_to_bitmask([TRIANGLE_AFTER], 20, 30)
    assert (masks[0] == expected_triangle).all() and masks[0].sum() > 100
    rasterised_first = polygons_to_bitmask([TRIANGLE], 20, 30)
    bitmap_path = TransformList([RESIZE, CROP, FLIP]).apply_segmentation(rasterised_first)
    assert (bitmap_path != expected_triangle).any()  # rasterising before the resize is not the same
    car = np.asarray(Image.fromarray(_rle_car().astype(np.uint8)).resize((45, 30), Image.Resampling.NEAREST))
    assert (masks[1] == car[4:24, 6:36][:, ::-1]).all() and masks[1].any()
    assert not masks[2].any() and not masks[3].any()


def test_lsj_instance_mapper_drops_only_instances_the_crop_leaves_without_area(tmp_path):
    out = LSJInstanceMapper(augmentations=AUGMENTATIONS)(_instance_record(tmp_path))
    # The sliver keeps a positive area inside the window although no pixel centre: kept, empty.
    assert out["instances"].gt_classes.tolist() == [3, 2, 5]
    assert [bool(m.any()) for m in out["instances"].gt_masks] == [True, True, False]


def test_lsj_instance_mapper_drops_an_emptied_rle_mask(tmp_path):
    record = _instance_record(tmp_path)
    corner = np.zeros((20, 30), dtype=bool)
    corner[18:, 27:] = True  # outside the crop window
    record["annotations"][2]["segmentation"] = bitmask_to_rle(corner)
    assert rle_to_bitmask(record["annotations"][2]["segmentation"]).sum() == 6
    for mapper, expected in ((LSJInstanceMapper, [3, 5]), (InstanceMapper, [3, 2, 4, 5])):
        assert mapper(augmentations=AUGMENTATIONS)(record)["instances"].gt_classes.tolist() == expected


def test_untransformed_polygons_rasterise_at_the_image_size(tmp_path):
    record = _instance_record(tmp_path)
    masks = InstanceMapper(augmentations=[], size_divisibility=32)(record)["instances"].gt_masks
    assert masks.shape == (4, 32, 32) and not masks[:, 20:].any() and not masks[:, :, 30:].any()
    assert (masks[0, :20, :30].numpy() == segmentation_to_bitmask([TRIANGLE], 20, 30)).all()


def test_clip_polygon_cuts_a_concave_polygon_into_parts_that_rasterise_as_such():
    u_shape = [0, 0, 3, 0, 3, 8, 7, 8, 7, 0, 10, 0, 10, 12, 0, 12]
    clipped = clip_polygon(u_shape, (0, 0, 10, 6))
    prongs = [[0, 0, 3, 0, 3, 6, 0, 6], [7, 0, 10, 0, 10, 6, 7, 6]]
    assert (polygons_to_bitmask([clipped], 6, 10) == polygons_to_bitmask(prongs, 6, 10)).all()
    triangle = clip_polygon([-3, 0.5, 19.5, 3.5, 6, 20], (0, 0, 30, 20)).reshape(-1, 2)
    assert np.allclose(triangle, [[0, 7], [0, 0.9], [19.5, 3.5], [6, 20]])
    assert len(clip_polygon([40, 0, 50, 0, 45, 5], (0, 0, 30, 20))) == 0  # outside
    assert len(clip_polygon([30, 0, 40, 0, 40, 5, 30, 5], (0, 0, 30, 20))) == 0  # touches an edge only


def _panoptic_record(tmp_path):
    """20x30: segment 2 in the top-left 4x4 corner, 3 a crowd, 1 the rest."""
    pan = np.ones((20, 30), dtype=np.int64)
    pan[:4, :4] = 2
    pan[10:14, 10:14] = 3
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(id2rgb(pan)).save(tmp_path / "pan.png")
    segments = [
        {"id": 1, "category_id": 0, "iscrowd": 0},
        {"id": 2, "category_id": 1, "iscrowd": 0},
        {"id": 3, "category_id": 1, "iscrowd": 1},
    ]
    return {
        "file_name": str(tmp_path / "img.png"),
        "pan_seg_file_name": str(tmp_path / "pan.png"),
        "segments_info": segments,
    }


def test_panoptic_crop_that_removes_a_segment_keeps_an_empty_target(tmp_path):
    out = PanopticMapper(augmentations=[_Fixed(CROP)])(_panoptic_record(tmp_path))
    assert out["instances"].gt_classes.tolist() == [0, 1]
    background = np.ones((16, 24), dtype=bool)
    background[6:10, 4:8] = False  # the crowd segment
    assert (out["instances"].gt_masks[0].numpy() == background).all()
    assert not out["instances"].gt_masks[1].any()


def test_lsj_panoptic_crop_that_removes_a_segment_keeps_an_empty_target(tmp_path):
    cfg = get_cfg()
    cfg.INPUT.DATASET_MAPPER_NAME = "coco_panoptic_lsj"
    cfg.INPUT.IMAGE_SIZE = 16
    cfg.INPUT.MIN_SCALE = cfg.INPUT.MAX_SCALE = 1.875  # 16 * 1.875 = 30: no resize of 20x30
    cfg.INPUT.RANDOM_FLIP = "none"
    mapper = build_mapper(cfg, is_train=True)
    record = _panoptic_record(tmp_path)
    corner_present = []
    for seed in range(8):
        instances = mapper(record, np.random.default_rng(seed))["instances"]
        assert instances.gt_classes.tolist() == [0, 1] and instances.gt_masks.shape == (2, 16, 16)
        corner_present.append(bool(instances.gt_masks[1].any()))
    assert not all(corner_present) and any(corner_present)
