"""COCO-Stuff-10K (v1.x) semantic labels for ``coco_2017_{train,test}_stuff_10k_sem_seg``.

Reads ``coco/coco_stuff_10k/{imageLists/{train,test}.txt, images/*.jpg, annotations/*.mat}``; the
``S`` matrix holds 1 = unlabeled and 2..172 = the 171 classes (as the official conversion
assumes). Writes ``images_detectron2/{split}/*.jpg`` (copies) and ``annotations_detectron2/{split}/*.png``
with ``S - 2`` (0..170, unlabeled -> 255). MATLAB v5 files are read with scipy; v7.3 (HDF5) files
need ``h5py``.

    python datasets/prepare_coco_stuff_10k_sem_seg.py [--root DATASETS_ROOT]
"""

from __future__ import annotations

import os
import shutil

import numpy as np
from PIL import Image
from tqdm import tqdm

from maskformer.data.datasets.builtin import datasets_root, root_argument_parser


def read_mat_labels(path: str) -> np.ndarray:
    """The ``S`` label matrix ``[H, W]`` of a COCO-Stuff .mat file (v5 or v7.3)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        return np.asarray(loadmat(path)["S"])
    except (NotImplementedError, MatReadError, ValueError):
        try:
            import h5py
        except ImportError as e:
            raise ImportError(f"'{path}' is a MATLAB v7.3 file; install h5py to read it.") from e
        with h5py.File(path, "r") as f:
            return np.asarray(f["S"]).T  # HDF5 stores MATLAB arrays column-major


def convert_labels(labels: np.ndarray) -> np.ndarray:
    """``S`` (1 = unlabeled, 2.. = classes) -> uint8 contiguous ids with 255 = ignore."""
    return (labels.astype(np.int64) - 2).astype(np.uint8)


def convert(root: str) -> int:
    """Converts both splits; returns the number of label maps written."""
    base = os.path.join(root, "coco", "coco_stuff_10k")
    written = 0
    for split in ("train", "test"):
        with open(os.path.join(base, "imageLists", f"{split}.txt")) as f:
            names = [line.strip() for line in f if line.strip()]
        image_dir = os.path.join(base, "images_detectron2", split)
        label_dir = os.path.join(base, "annotations_detectron2", split)
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(label_dir, exist_ok=True)
        for name in tqdm(names, desc=split):
            shutil.copyfile(
                os.path.join(base, "images", name + ".jpg"), os.path.join(image_dir, name + ".jpg")
            )
            labels = convert_labels(read_mat_labels(os.path.join(base, "annotations", name + ".mat")))
            size = Image.open(os.path.join(image_dir, name + ".jpg")).size[::-1]
            if labels.shape != size:
                raise ValueError(f"Labels of '{name}' are {labels.shape}, its image is {size}.")
            Image.fromarray(labels).save(os.path.join(label_dir, name + ".png"))
            written += 1
    return written


if __name__ == "__main__":
    parser = root_argument_parser(__doc__)
    print(f"wrote {convert(datasets_root(parser.parse_args().root))} label maps")
