import logging

import numpy as np
import pytest
from PIL import Image

from maskformer.data.image_io import id2rgb, read_image, read_label_map, read_panoptic_ids
from maskformer.data.mappers import InferenceMapper, PanopticMapper, SemanticMapper


def test_missing_and_undecodable_images_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_image(str(tmp_path / "nope.jpg"))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(OSError, match="broken.jpg"):
        read_image(str(tmp_path / "broken.jpg"))
    with pytest.raises(OSError, match="broken.jpg"):
        InferenceMapper(augmentations=[])({"file_name": str(tmp_path / "broken.jpg")})


@pytest.mark.parametrize(
    "array, mode",
    [
        (np.full((4, 5), 77, dtype=np.uint8), "L"),
        (np.full((4, 5, 4), 77, dtype=np.uint8), "RGBA"),
        (np.full((4, 5), 77 * 257, dtype=np.uint16), "I;16"),
    ],
)
def test_grayscale_rgba_and_16_bit_images_become_rgb(tmp_path, array, mode):
    path = str(tmp_path / "x.png")
    Image.fromarray(array).save(path)
    assert Image.open(path).mode == mode
    image = read_image(path, "BGR")
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8 and (image == 77).all()


def test_label_maps_keep_16_bit_values_and_reject_rgb(tmp_path):
    Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16)).save(tmp_path / "l.png")
    assert (read_label_map(str(tmp_path / "l.png")) == 65535).all()
    Image.fromarray(np.zeros((3, 3, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="rgb.png.*single-channel"):
        read_label_map(str(tmp_path / "rgb.png"))
    Image.fromarray(np.zeros((3, 3), dtype=np.uint8)).save(tmp_path / "gray.png")
    with pytest.raises(ValueError, match="gray.png.*RGB"):
        read_panoptic_ids(str(tmp_path / "gray.png"))


def _panoptic_record(tmp_path, segments):
    pan = np.zeros((6, 6), dtype=np.int64)
    pan[:3] = 5
    pan[3:] = 9
    Image.fromarray(np.zeros((6, 6, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(id2rgb(pan)).save(tmp_path / "pan.png")
    return {
        "file_name": str(tmp_path / "img.png"),
        "pan_seg_file_name": str(tmp_path / "pan.png"),
        "segments_info": segments,
    }


def test_panoptic_ids_missing_from_segments_info_are_logged(tmp_path, caplog):
    record = _panoptic_record(tmp_path, [{"id": 5, "category_id": 2, "iscrowd": 0}])
    with caplog.at_level(logging.WARNING):
        out = PanopticMapper(augmentations=[])(record)
    assert "pan.png" in caplog.text and "1 segment ids not in its segments_info ([9])" in caplog.text
    assert out["instances"].gt_classes.tolist() == [2]


def test_wrong_mapper_for_the_data_and_size_mismatch(tmp_path):
    record = _panoptic_record(tmp_path, [])
    with pytest.raises(ValueError, match="img.png.*no 'sem_seg_file_name'"):
        SemanticMapper(augmentations=[])(record)
    with pytest.raises(ValueError, match="img.png.*is 6x6 but its annotation says 7x6"):
        InferenceMapper(augmentations=[])(dict(record, height=7, width=6))
