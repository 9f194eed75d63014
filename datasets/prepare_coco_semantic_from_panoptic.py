"""COCO semantic labels from the panoptic annotations (for ``coco_2017_*_panoptic_with_sem_seg``).

Reads ``coco/annotations/panoptic_{train,val}2017.json`` and ``coco/panoptic_{train,val}2017/*.png``
and writes ``coco/panoptic_semseg_{train,val}2017/*.png``: each segment's pixels get the contiguous
id of its category (order of the 133-category table), void pixels 255.

    python datasets/prepare_coco_semantic_from_panoptic.py [--root DATASETS_ROOT] [--workers N]
"""

from __future__ import annotations

import functools
import json
import os
from multiprocessing import Pool

import numpy as np
from PIL import Image
from tqdm import tqdm

from maskformer.data.datasets.builtin import datasets_root, root_argument_parser
from maskformer.data.datasets.metadata import load_categories
from maskformer.data.image_io import read_panoptic_ids


def semantic_from_panoptic(pan_ids: np.ndarray, segments: list[dict], id_map: dict[int, int]) -> np.ndarray:
    """``[H, W]`` segment ids + segments_info (dataset category ids) -> ``[H, W]`` uint8 contiguous ids."""
    out = np.full(pan_ids.shape, 255, dtype=np.uint8)
    for segment in segments:
        out[pan_ids == segment["id"]] = id_map[segment["category_id"]]
    return out


def _convert_one(annotation: dict, pan_dir: str, out_dir: str, id_map: dict[int, int]) -> None:
    ids = read_panoptic_ids(os.path.join(pan_dir, annotation["file_name"]))
    semantic = semantic_from_panoptic(ids, annotation["segments_info"], id_map)
    Image.fromarray(semantic).save(os.path.join(out_dir, annotation["file_name"]))


def convert(root: str, splits: tuple[str, ...] = ("train2017", "val2017"), workers: int = 1) -> int:
    """Converts the given splits; returns the number of PNGs written."""
    id_map = {c["id"]: i for i, c in enumerate(load_categories("coco_panoptic"))}
    written = 0
    for split in splits:
        json_file = os.path.join(root, "coco", "annotations", f"panoptic_{split}.json")
        with open(json_file) as f:
            annotations = json.load(f)["annotations"]
        out_dir = os.path.join(root, "coco", f"panoptic_semseg_{split}")
        os.makedirs(out_dir, exist_ok=True)
        work = functools.partial(
            _convert_one,
            pan_dir=os.path.join(root, "coco", f"panoptic_{split}"),
            out_dir=out_dir,
            id_map=id_map,
        )
        if workers > 1:
            with Pool(workers) as pool:
                list(tqdm(pool.imap(work, annotations, chunksize=16), total=len(annotations), desc=split))
        else:
            for annotation in tqdm(annotations, desc=split):
                work(annotation)
        written += len(annotations)
    return written


if __name__ == "__main__":
    parser = root_argument_parser(__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"wrote {convert(datasets_root(args.root), workers=args.workers)} semantic PNGs")
