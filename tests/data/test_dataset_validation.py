import numpy as np
from PIL import Image

from maskformer.data import DatasetCatalog, MetadataCatalog, validate_dataset
from maskformer.data.image_io import id2rgb
from maskformer.data.validation import main
from tests.helpers.tiny_shapes import TINY_PREFIX


def test_shapes_splits_are_valid(data_cfg):
    # Instance tasks count the thing classes (4), panoptic and semantic ones all classes (8).
    for view, num_classes in (("panoptic", 8), ("instance", 4), ("sem_seg", 8)):
        data_cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = num_classes
        assert validate_dataset(data_cfg, f"{TINY_PREFIX}_val_{view}") == []


def test_problems_name_files_and_fixes(data_cfg, tmp_path):
    Image.fromarray(np.zeros((6, 6, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"xx")
    pan = np.zeros((6, 6), dtype=np.int64)
    pan[:2] = 3
    pan[2:4] = 4
    Image.fromarray(id2rgb(pan)).save(tmp_path / "pan.png")
    Image.fromarray(np.full((6, 6), 9, dtype=np.uint8)).save(tmp_path / "sem.png")
    records = [
        {
            "file_name": str(tmp_path / "broken.jpg"),
            "pan_seg_file_name": str(tmp_path / "pan.png"),
            "segments_info": [],
        },
        {
            "file_name": str(tmp_path / "ok.png"),
            "height": 6,
            "width": 6,
            "pan_seg_file_name": str(tmp_path / "pan.png"),
            "sem_seg_file_name": str(tmp_path / "sem.png"),
            "segments_info": [{"id": 3, "category_id": 1}, {"id": 7, "category_id": 20}],
        },
    ]
    DatasetCatalog.register("_invalid_ds", lambda: records)
    MetadataCatalog.get("_invalid_ds").set(
        evaluator_type="coco_panoptic_seg", stuff_classes=["a"] * 5, ignore_label=255
    )
    data_cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 5
    data_cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = True
    text = "\n".join(str(p) for p in validate_dataset(data_cfg, "_invalid_ds"))
    assert "lacks 'panoptic_root'" in text and "needs the COCO instance JSON" in text
    assert "broken.jpg: Cannot decode" in text
    assert "pan.png: has segment ids [4] not in segments_info" in text
    assert "pan.png: segments_info lists ids [7] absent from the PNG" in text
    assert "category ids [20] >= NUM_CLASSES 5" in text
    assert "sem.png: has labels [9] outside [0, 5)" in text


def test_class_count_mismatch_and_cli(data_cfg, capsys, shapes_root):
    data_cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 133
    text = "\n".join(str(p) for p in validate_dataset(data_cfg, f"{TINY_PREFIX}_val_sem_seg", max_images=1))
    assert "NUM_CLASSES: is 133 but dataset 'tinyshapes_val_sem_seg' has 8 classes" in text
    assert (
        main(
            [
                "--dataset",
                f"{TINY_PREFIX}_val_sem_seg",
                "--max-images",
                "2",
                "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
                "8",
            ]
        )
        == 0
    )
    assert "0 problem(s)" in capsys.readouterr().out
