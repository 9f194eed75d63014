import numpy as np
import pycocotools.mask as mask_utils
import pytest

from maskformer.structures.masks import (
    bitmask_to_polygons,
    bitmask_to_rle,
    polygons_to_bitmask,
    rle_to_bitmask,
    segmentation_to_bitmask,
)


def test_square_polygon_rasterises_to_its_pixels():
    mask = polygons_to_bitmask([[2, 1, 5, 1, 5, 4, 2, 4]], 6, 7)
    expected = np.zeros((6, 7), dtype=bool)
    expected[1:4, 2:5] = True
    assert (mask == expected).all()


@pytest.mark.parametrize("seed", range(5))
def test_polygon_round_trip_is_exact_for_simply_connected_masks(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :50]
    cy, cx, r = rng.uniform(10, 30), rng.uniform(10, 40), rng.uniform(3, 9)
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    polygons = bitmask_to_polygons(mask)
    assert len(polygons) == 1
    assert (polygons_to_bitmask(polygons, 40, 50) == mask).all()


def test_single_pixel_and_empty_masks():
    mask = np.zeros((5, 5), dtype=bool)
    assert bitmask_to_polygons(mask) == []
    mask[2, 3] = True
    assert (polygons_to_bitmask(bitmask_to_polygons(mask), 5, 5) == mask).all()
    assert not polygons_to_bitmask([], 5, 5).any()


def test_rle_round_trip_and_uncompressed_rle():
    rng = np.random.default_rng(0)
    mask = rng.random((9, 11)) > 0.5
    rle = bitmask_to_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [9, 11]
    assert (rle_to_bitmask(rle) == mask).all()
    uncompressed = {"size": [2, 2], "counts": [1, 2, 1]}  # column-major: 0, 1, 1, 0
    assert rle_to_bitmask(uncompressed).tolist() == [[False, True], [True, False]]
    assert mask_utils.area(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))) == mask.sum()


def test_segmentation_to_bitmask_dispatch_and_errors():
    mask = np.eye(4, dtype=bool)
    assert (segmentation_to_bitmask(bitmask_to_rle(mask), 4, 4) == mask).all()
    assert (segmentation_to_bitmask(mask, 4, 4) == mask).all()
    with pytest.raises(ValueError, match="does not match the image size"):
        segmentation_to_bitmask(bitmask_to_rle(mask), 5, 4)
    with pytest.raises(ValueError, match="Unsupported segmentation"):
        segmentation_to_bitmask("abc", 4, 4)
