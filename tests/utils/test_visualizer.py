import numpy as np

from maskformer.utils.visualizer import draw_instances, draw_panoptic_seg, draw_sem_seg


def _image():
    return np.full((40, 50, 3), 100, np.uint8)


def test_panoptic_overlay_colours_segments_only():
    pan = np.zeros((40, 50), np.int32)
    pan[5:20, 5:20] = 1
    out = draw_panoptic_seg(_image(), pan, [{"id": 1, "category_id": 0, "isthing": True}], ["circle"])
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert (out[30:, 30:] == 100).all()  # void stays untouched
    assert not (out[12, 8] == 100).all()  # inside the segment is tinted


def test_sem_seg_and_instances_overlays():
    sem = np.full((40, 50), 255, np.int64)
    sem[:10] = 1
    out = draw_sem_seg(_image(), sem, ["a", "b"])
    assert (out[30:] == 100).all() and not (out[5, 40] == 100).all()
    masks = np.zeros((1, 40, 50), bool)
    masks[0, 20:30, 20:30] = True
    out = draw_instances(_image(), masks, [1], [0.9], ["a", "b"])
    assert not (out[25, 22] == 100).all()
