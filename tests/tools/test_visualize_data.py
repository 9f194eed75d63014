import os

import numpy as np
from PIL import Image

from tests.helpers.tiny_shapes import TINY_PREFIX
from tools import visualize_data


def test_visualize_data_writes_one_png_per_image(shapes_root, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f'DATASETS:\n  TRAIN: ("{TINY_PREFIX}_train_panoptic",)\n'
        'INPUT:\n  DATASET_MAPPER_NAME: "mask_former_panoptic"\n'
        "  MIN_SIZE_TRAIN: (64,)\nSOLVER:\n  IMS_PER_BATCH: 2\nDATALOADER:\n  NUM_WORKERS: 0\n"
    )
    for source in ("annotation", "dataloader"):
        out = tmp_path / source
        visualize_data.main(
            ["--config-file", str(config), "--source", source, "--output-dir", str(out), "--num-images", "3"]
        )
        files = sorted(os.listdir(out))
        assert len(files) == 3
        picture = np.asarray(Image.open(out / files[0]))
        assert picture.shape == (512, 512 + 6 + 512, 3)  # image | targets, upscaled from 64 px
        assert not np.array_equal(picture[:, :512], picture[:, 518:])  # the targets are drawn
