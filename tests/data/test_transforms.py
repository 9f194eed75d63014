import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from maskformer.data.mappers import SemanticMapper
from maskformer.data.transforms import (
    ColorAugSSD,
    CropTransform,
    FixedSizeCrop,
    HFlipTransform,
    RandomCrop,
    RandomCropCategoryAreaConstraint,
    RandomFlip,
    ResizeScale,
    ResizeShortestEdge,
    ResizeTransform,
    TransformList,
    apply_augmentations,
)
from maskformer.structures.masks import polygons_to_bitmask


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    "hw, short, max_size, expected",
    [
        ((480, 640), 800, 1333, (800, 1067)),
        ((100, 1000), 800, 1333, (133, 1333)),
        ((64, 64), 32, 1000, (32, 32)),
    ],
)
def test_resize_shortest_edge_sizes(hw, short, max_size, expected):
    assert ResizeShortestEdge.output_size(*hw, short, max_size) == expected


def test_resize_shortest_edge_sampling():
    image = np.zeros((50, 100, 3), dtype=np.uint8)
    choice = ResizeShortestEdge([20, 30], 1000, "choice")
    seen = {choice.get_transform(image, None, _rng(s)).new_h for s in range(30)}
    assert seen == {20, 30}
    ranged = ResizeShortestEdge([20, 30], 1000, "range")
    seen = {ranged.get_transform(image, None, _rng(s)).new_h for s in range(60)}
    assert min(seen) >= 20 and max(seen) <= 30 and len(seen) > 5
    with pytest.raises(ValueError, match="MIN_SIZE_TRAIN_SAMPLING"):
        ResizeShortestEdge([20], 100, "uniform")


@pytest.mark.parametrize(
    "crop_type, size, check",
    [
        ("relative", (0.5, 0.25), lambda h, w: (h, w) == (20, 20)),
        ("relative_range", (0.5, 0.5), lambda h, w: 20 <= h <= 40 and 40 <= w <= 80),
        ("absolute", (30, 100), lambda h, w: (h, w) == (30, 80)),
        ("absolute_range", (10, 30), lambda h, w: 10 <= h <= 30 and 10 <= w <= 30),
    ],
)
def test_random_crop_types(crop_type, size, check):
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    for seed in range(10):
        t = RandomCrop(crop_type, size).get_transform(image, None, _rng(seed))
        assert check(t.h, t.w) and 0 <= t.y0 <= 40 - t.h and 0 <= t.x0 <= 80 - t.w


def test_category_area_constraint_holds_and_ignores_the_ignore_label():
    sem = np.zeros((64, 64), dtype=np.int64)
    sem[:, 36:56] = 1
    sem[:8] = 255  # ignored: must not count
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    aug = RandomCropCategoryAreaConstraint("absolute", (32, 32), 0.75, ignored_category=255)
    for seed in range(30):
        crop = aug.get_transform(image, sem, _rng(seed)).apply_segmentation(sem)
        labels, counts = np.unique(crop[crop != 255], return_counts=True)
        assert len(labels) > 1 and counts.max() < 0.75 * counts.sum()
    unconstrained = RandomCrop("absolute", (32, 32))
    fails = 0
    for seed in range(30):
        crop = unconstrained.get_transform(image, sem, _rng(seed)).apply_segmentation(sem)
        labels, counts = np.unique(crop[crop != 255], return_counts=True)
        fails += len(labels) < 2 or counts.max() >= 0.75 * counts.sum()
    assert fails > 5  # the constraint changes something


def test_resize_scale_and_fixed_size_crop_pad():
    image = np.full((40, 60, 3), 7, dtype=np.uint8)
    for seed in range(10):
        t = ResizeScale(0.5, 2.0, 64, 64).get_transform(image, None, _rng(seed))
        scale = min(t.new_h / 40, t.new_w / 60) * 60 / 64
        assert 0.49 <= scale <= 2.01
    crop = FixedSizeCrop((64, 64)).get_transform(image, None, _rng(0))
    out = crop.apply_image(image)
    seg = crop.apply_segmentation(np.ones((40, 60), dtype=np.int64), pad_value=255)
    assert out.shape == (64, 64, 3) and seg.shape == (64, 64)
    assert (out[40:] == 128).all() and (out[:, 60:] == 128).all() and (out[:40, :60] == 7).all()
    assert (seg[40:] == 255).all() and (seg[:40, :60] == 1).all()
    big = np.zeros((100, 80, 3), dtype=np.uint8)
    assert FixedSizeCrop((64, 64)).get_transform(big, None, _rng(1)).apply_image(big).shape == (64, 64, 3)


def _label_image(rng, h=48, w=64):
    """A label map of rectangles and the image whose colour encodes the label."""
    sem = np.zeros((h, w), dtype=np.int64)
    for label in range(1, 5):
        y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
        sem[y : y + rng.integers(8, 20), x : x + rng.integers(8, 20)] = label
    palette = np.array([[0, 0, 0], [200, 0, 0], [0, 200, 0], [0, 0, 200], [200, 200, 0]], dtype=np.uint8)
    return palette[sem], sem, palette


@pytest.mark.parametrize("seed", range(4))
def test_augmentations_keep_image_and_labels_aligned(seed):
    rng = _rng(seed)
    image, sem, palette = _label_image(rng)
    augs = [
        ResizeShortestEdge([32, 96], 200, "range"),
        RandomCrop("relative_range", (0.5, 0.5)),
        RandomFlip(),
    ]
    out_image, out_sem, transforms = apply_augmentations(augs, image, sem, rng)
    assert out_image.shape[:2] == out_sem.shape
    assert (transforms.apply_sem_seg(sem) == out_sem).all()
    # The semantic rule (torch's, as officially) can sit half a source pixel off the image; the
    # label-map rule (PIL's) is centred: away from label boundaries the image colour is the label's.
    out_sem = transforms.apply_segmentation(sem)
    pad = np.pad(out_sem, 1, mode="edge")
    uniform = np.ones_like(out_sem, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            uniform &= pad[dy : dy + out_sem.shape[0], dx : dx + out_sem.shape[1]] == out_sem
    assert uniform.mean() > 0.5
    diff = np.abs(out_image[uniform].astype(int) - palette[out_sem[uniform]].astype(int))
    assert diff.max() <= 2


def test_flip_and_crop_are_exact_on_masks_and_polygons():
    mask = np.zeros((20, 30), dtype=bool)
    mask[3:9, 4:12] = True
    polygon = [np.array([4, 3, 12, 3, 12, 9, 4, 9], dtype=float)]
    for t in (HFlipTransform(30), CropTransform(2, 1, 20, 15), ResizeTransform(20, 30, 40, 60)):
        moved = t.apply_segmentation(mask)
        assert (polygons_to_bitmask(t.apply_polygons(polygon), *moved.shape) == moved).all()
    flipped = HFlipTransform(30).apply_image(np.arange(30, dtype=np.uint8)[None, :, None].repeat(2, 0))
    assert flipped[0, 0, 0] == 29


def test_nearest_resize_handles_large_ids_and_stacks():
    seg = np.array([[1, 2], [3, 16_000_000]], dtype=np.int64)
    out = ResizeTransform(2, 2, 4, 4).apply_segmentation(seg)
    assert out.dtype == np.int64 and out[3, 3] == 16_000_000 and out[0, 0] == 1
    stack = np.stack([seg, seg * 2])
    assert ResizeTransform(2, 2, 4, 4).apply_segmentation(stack).shape == (2, 4, 4)


def test_color_aug_is_image_only_and_reproducible():
    rng = _rng(3)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sem = rng.integers(0, 5, (16, 16))
    aug = ColorAugSSD("RGB")
    outs = [aug.get_transform(image, sem, _rng(5)) for _ in range(2)]
    a, b = (t.apply_image(image) for t in outs)
    assert a.dtype == np.uint8 and a.shape == image.shape and (a == b).all()
    assert (outs[0].apply_segmentation(sem) == sem).all()
    changed = sum(
        not np.array_equal(aug.get_transform(image, None, _rng(s)).apply_image(image), image)
        for s in range(10)
    )
    assert changed >= 8


def _torch_nearest(label_map, size):
    """Independent oracle: what Detectron2 does to the official float label maps."""
    tensor = torch.from_numpy(label_map.astype(np.float64))[None, None]
    return F.interpolate(tensor, size=size, mode="nearest")[0, 0].numpy().astype(label_map.dtype)


def test_semantic_maps_resize_with_torch_nearest_other_maps_with_pil():
    label_map = np.arange(13 * 17, dtype=np.int64).reshape(13, 17)
    resize = ResizeTransform(13, 17, 20, 26)
    sem = resize.apply_sem_seg(label_map)
    assert (sem == _torch_nearest(label_map, (20, 26))).all()
    floor_rows = [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12]  # floor(dst * 13 / 20)
    assert (sem[:, 0] // 17).tolist() == floor_rows
    pan = resize.apply_segmentation(label_map)
    pil = np.asarray(Image.fromarray(label_map.astype(np.uint8)).resize((26, 20), Image.Resampling.NEAREST))
    assert (pan == pil).all() and (pan != sem).any()
    assert (TransformList([resize, HFlipTransform(26)]).apply_sem_seg(label_map) == sem[:, ::-1]).all()


def test_label_map_resizes_match_torch_and_pil_for_every_small_size():
    for size in range(1, 33):
        column = np.arange(size, dtype=np.uint8)[:, None]
        for new_size in range(1, 65):
            resize = ResizeTransform(size, 1, new_size, 1)
            assert (resize.apply_sem_seg(column) == _torch_nearest(column, (new_size, 1))).all()
            pil = np.asarray(Image.fromarray(column).resize((1, new_size), Image.Resampling.NEAREST))
            assert (resize.apply_segmentation(column) == pil).all(), (size, new_size)
    row = (np.arange(640) % 251).astype(np.uint8)[None].repeat(2, 0)  # a COCO-sized resize
    pil = np.asarray(Image.fromarray(row).resize((1067, 3), Image.Resampling.NEAREST))
    assert (ResizeTransform(2, 640, 3, 1067).apply_segmentation(row) == pil).all()


def test_semantic_mapper_resizes_its_label_map_like_the_official_mapper(tmp_path):
    label_map = (np.arange(13 * 17).reshape(13, 17) % 5).astype(np.uint8)
    Image.fromarray(np.zeros((13, 17, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(label_map).save(tmp_path / "a.png")
    record = {"file_name": str(tmp_path / "a.jpg"), "sem_seg_file_name": str(tmp_path / "a.png")}
    out = SemanticMapper(augmentations=[ResizeShortestEdge([20], 1000, "choice")])(record, _rng())
    expected = _torch_nearest(label_map, (20, 26))
    assert out["sem_seg"].numpy().tolist() == expected.tolist()
    for mask, c in zip(out["instances"].gt_masks, out["instances"].gt_classes.tolist()):
        assert (mask.numpy() == (expected == c)).all()
