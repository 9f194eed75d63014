"""ADE20K-150 semantic labels for training: shift by one so 0 ("other") becomes 255 (ignore).

Reads ``ADEChallengeData2016/annotations/{training,validation}/*.png`` (0 = other, 1..150) and
writes ``ADEChallengeData2016/annotations_detectron2/{training,validation}/*.png`` (0..149, 255).

    python datasets/prepare_ade20k_sem_seg.py [--root DATASETS_ROOT]
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from maskformer.data.datasets.builtin import datasets_root, root_argument_parser


def shift_labels(labels: np.ndarray) -> np.ndarray:
    """``[H, W]`` uint8 ADE labels 0..150 -> 0..149 with 0 mapped to 255."""
    return (labels.astype(np.int64) - 1).astype(np.uint8)


def convert(root: str) -> int:
    """Converts both splits; returns the number of label maps written."""
    base = os.path.join(root, "ADEChallengeData2016")
    written = 0
    for split in ("training", "validation"):
        src = os.path.join(base, "annotations", split)
        if not os.path.isdir(src):
            raise FileNotFoundError(
                f"'{src}' does not exist; unpack ADEChallengeData2016.zip under '{root}'."
            )
        dst = os.path.join(base, "annotations_detectron2", split)
        os.makedirs(dst, exist_ok=True)
        for name in tqdm(sorted(os.listdir(src)), desc=split):
            if not name.endswith(".png"):
                continue
            labels = np.asarray(Image.open(os.path.join(src, name)))
            Image.fromarray(shift_labels(labels)).save(os.path.join(dst, name))
            written += 1
    return written


if __name__ == "__main__":
    parser = root_argument_parser(__doc__)
    print(f"wrote {convert(datasets_root(parser.parse_args().root))} label maps")
