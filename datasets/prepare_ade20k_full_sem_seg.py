"""ADE20K-Full (847 classes) semantic labels for ``ade20k_full_sem_seg_{train,val}``.

Reads the ADE20K 2021_17_01 release: ``ADE20K_2021_17_01/index_ade20k.pkl`` (``folder`` and
``filename`` lists) and, per image, ``<folder>/<name>.jpg`` + ``<name>_seg.png`` whose object class
is ``R // 10 * 256 + G``. Images whose shorter side exceeds 512 are resized to 512 (bilinear image,
nearest labels), as the official conversion does. Classes of the 847-class table
(``metadata/ade20k_full_847.json``) get their train id, every other pixel 65535 (ignore). Writes
``images_detectron2/{training,validation}/<name>.jpg`` and ``annotations_detectron2/.../<name>.tif``
(uint16).

    python datasets/prepare_ade20k_full_sem_seg.py [--root DATASETS_ROOT]
"""

from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from maskformer.data.datasets.builtin import datasets_root, root_argument_parser
from maskformer.data.datasets.metadata import load_categories

IGNORE = 65535
MAX_SHORT_SIDE = 512


def class_mask(seg_rgb: np.ndarray) -> np.ndarray:
    """ADE20K ``_seg.png`` ``[H, W, 3]`` -> object class ``[H, W]`` int32 (``R // 10 * 256 + G``)."""
    return (seg_rgb[..., 0] // 10).astype(np.int32) * 256 + seg_rgb[..., 1].astype(np.int32)


def train_ids(classes: np.ndarray, id_map: dict[int, int]) -> np.ndarray:
    """Object classes -> uint16 train ids (``IGNORE`` for classes outside the table)."""
    out = np.full(classes.shape, IGNORE, dtype=np.uint16)
    for value in np.unique(classes):
        if int(value) in id_map:
            out[classes == value] = id_map[int(value)]
    return out


def _resize(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = labels.shape
    if min(h, w) <= MAX_SHORT_SIDE:
        return image, labels
    if w >= h:
        new_h, new_w = MAX_SHORT_SIDE, round(w / h * MAX_SHORT_SIDE)
    else:
        new_h, new_w = round(h / w * MAX_SHORT_SIDE), MAX_SHORT_SIDE
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return image, cv2.resize(labels, (new_w, new_h), interpolation=cv2.INTER_NEAREST)


def convert(root: str) -> int:
    """Converts every image listed in the index; returns the number written."""
    base = os.path.join(root, "ADE20K_2021_17_01")
    with open(os.path.join(base, "index_ade20k.pkl"), "rb") as f:
        index = pickle.load(f)
    id_map = {c["id"]: c["trainId"] for c in load_categories("ade20k_full_847")}
    for split in ("training", "validation"):
        os.makedirs(os.path.join(base, "images_detectron2", split), exist_ok=True)
        os.makedirs(os.path.join(base, "annotations_detectron2", split), exist_ok=True)
    for folder, name in tqdm(list(zip(index["folder"], index["filename"]))):
        split = "validation" if name.split("_")[1] == "val" else "training"
        path = os.path.join(root, folder, name)
        image = np.asarray(Image.open(path).convert("RGB"))
        classes = class_mask(np.asarray(Image.open(path.replace(".jpg", "_seg.png")).convert("RGB")))
        image, classes = _resize(image, classes)
        Image.fromarray(image).save(os.path.join(base, "images_detectron2", split, name))
        Image.fromarray(train_ids(classes, id_map)).save(
            os.path.join(base, "annotations_detectron2", split, name.replace(".jpg", ".tif"))
        )
    return len(index["filename"])


if __name__ == "__main__":
    parser = root_argument_parser(__doc__)
    print(f"wrote {convert(datasets_root(parser.parse_args().root))} images")
