"""Visualizer: readable sizes, class colours for stuff, shades for things, labels, legend, layouts."""

import numpy as np
import pytest

from maskformer.utils.visualizer import (
    default_colors,
    draw_instances,
    draw_panoptic_seg,
    draw_sem_seg,
    jitter_color,
    side_by_side,
    upscale_nearest,
)

RED, BLUE = (200, 0, 0), (0, 0, 200)


def _image(h=40, w=50):
    return np.full((h, w, 3), 100, np.uint8)


def _blend(color, alpha=0.55, base=100):
    return np.round(base * (1 - alpha) + np.asarray(color) * alpha).astype(np.uint8)


def test_upscale_nearest_exact():
    a = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    np.testing.assert_array_equal(
        upscale_nearest(a, 4, 6),
        [[1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 3, 3], [4, 4, 5, 5, 6, 6], [4, 4, 5, 5, 6, 6]],
    )
    assert upscale_nearest(np.zeros((5, 7, 3)), 10, 14).shape == (10, 14, 3)


def test_small_inputs_are_upscaled_large_ones_kept():
    pan = np.zeros((40, 50), np.int32)
    assert draw_panoptic_seg(_image(), pan, [], ["a"]).shape == (410, 512, 3)
    large = np.zeros((600, 700), np.int32)
    assert draw_panoptic_seg(_image(600, 700), large, [], ["a"]).shape == (600, 700, 3)
    assert draw_panoptic_seg(_image(), pan, [], ["a"], min_size=100).shape == (80, 100, 3)


def test_panoptic_stuff_in_class_colour_things_in_their_own_shades():
    pan = np.zeros((40, 50), np.int32)
    pan[:, :20] = 1  # stuff, class 0
    pan[:20, 30:] = 2  # two things of class 1
    pan[25:, 30:] = 3
    segments = [
        {"id": 1, "category_id": 0, "isthing": False},
        {"id": 2, "category_id": 1, "isthing": True},
        {"id": 3, "category_id": 1, "isthing": True},
    ]
    out = draw_panoptic_seg(_image(), pan, segments, ["", ""], [RED, BLUE], min_size=50)  # no labels
    assert out.shape == (40, 50, 3)
    np.testing.assert_array_equal(out[5, 3], _blend(RED))  # stuff: the class colour exactly
    np.testing.assert_array_equal(out[5, 24], [100, 100, 100])  # void: untouched
    np.testing.assert_array_equal(out[3, 33], _blend(jitter_color(BLUE, 2)))
    np.testing.assert_array_equal(out[37, 33], _blend(jitter_color(BLUE, 3)))
    assert not np.array_equal(out[3, 33], out[37, 33])
    assert not np.array_equal(out[1:39, 19], np.tile(_blend(RED), (38, 1)))  # a contour on the edge


def test_jitter_color_is_deterministic_bounded_and_distinct():
    shades = {jitter_color((120, 120, 120), seed) for seed in range(20)}
    assert len(shades) == 20 and jitter_color((120, 120, 120), 3) == jitter_color((120, 120, 120), 3)
    for shade in shades:
        assert 0 < np.linalg.norm(np.subtract(shade, 120) / 255.0) <= 0.3 + 2 / 255  # rounded to integers
    assert len(set(default_colors(50))) == 50


def test_labels_are_drawn_on_a_dark_box():
    pan = np.zeros((40, 50), np.int32)
    pan[5:35, 5:45] = 1
    segments = [{"id": 1, "category_id": 0, "isthing": False}]
    labelled = draw_panoptic_seg(_image(), pan, segments, ["wall"], [(255, 255, 255)])
    blank = draw_panoptic_seg(_image(), pan, segments, [""], [(255, 255, 255)])
    changed = np.abs(labelled.astype(int) - blank.astype(int)).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert 180 < ys.mean() < 230 and 230 < xs.mean() < 290  # at the segment's centre (205, 256)
    assert labelled[changed].min() < 90  # the box darkens the fill behind the text


def test_semantic_map_gets_a_legend_largest_class_first():
    sem = np.full((40, 50), 255, np.int64)
    sem[:10] = 1
    sem[10:30] = 0
    out = draw_sem_seg(_image(), sem, ["road", "tree", "unused"], [RED, BLUE, (0, 200, 0)], min_size=200)
    unlabelled = draw_sem_seg(_image(), sem, ["", "", ""], [RED, BLUE, (0, 200, 0)], min_size=50)
    assert out.shape[0] == 160 and out.shape[1] > 200  # the legend is a column on the right
    np.testing.assert_array_equal(unlabelled[35, 10], [100, 100, 100])  # ignore label: uncoloured
    np.testing.assert_array_equal(unlabelled[20, 3], _blend(RED))
    legend = out[:, 200:]
    red_rows = np.nonzero((legend == RED).all(axis=2).any(axis=1))[0]
    blue_rows = np.nonzero((legend == BLUE).all(axis=2).any(axis=1))[0]
    assert len(red_rows) and len(blue_rows) and red_rows.max() < blue_rows.min()  # road (larger) first
    assert not (legend == (0, 200, 0)).all(axis=2).any()  # absent classes are not listed


def test_instances_shades_and_errors():
    masks = np.zeros((2, 40, 50), bool)
    masks[0, 2:20, 2:20] = True
    masks[1, 22:38, 2:20] = True
    out = draw_instances(_image(), masks, [1, 1], [0.9, 0.4], ["", ""], [RED, BLUE], min_size=50)
    assert not np.array_equal(out[4, 4], out[24, 4])  # two shades of one class
    assert (out[4, 4] != 100).any() and (out[30, 40] == 100).all()
    with pytest.raises(ValueError, match="RGB uint8 image"):
        draw_instances(_image().astype(np.float32), masks, [1, 1], None, ["a", "b"])


def test_side_by_side_scales_the_input_to_the_drawing():
    out = side_by_side(_image(40, 50), np.zeros((80, 120, 3), np.uint8), gap=4)
    assert out.shape == (80, 100 + 4 + 120, 3)
    assert (out[:, 100:104] == 255).all() and (out[:, :100] == 100).all()
