"""ADE20K-150 panoptic and instance annotations from the semantic + instance-challenge annotations.

Reads ``ADEChallengeData2016/{images,annotations,annotations_instance}/{training,validation}/``:
semantic PNGs hold 0 (other) .. 150; instance PNGs hold the instance-challenge category (1..100)
in R and the instance index in G (0 = none). Categories map to the 150 classes with
``maskformer/data/datasets/metadata/ade20k_instance_catid_mapping.json``. Writes, per split
(``train`` / ``val``):

* ``ade20k_panoptic_{split}/*.png`` + ``ade20k_panoptic_{split}.json``: stuff segments from the
  semantic map first, then one segment per instance painted over them (the official order, since
  the two annotations overlap); category ids are the 0-based 150-class ids;
* ``ade20k_instance_{split}.json``: COCO instances (RLE) of the 100 thing classes.

    python datasets/prepare_ade20k_pan_ins_seg.py [--root DATASETS_ROOT]
"""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from maskformer.data.datasets.builtin import datasets_root, root_argument_parser
from maskformer.data.datasets.metadata import load_categories
from maskformer.data.image_io import id2rgb
from maskformer.structures.masks import bitmask_to_rle

_SPLITS = {"train": "training", "val": "validation"}
_MAPPING = os.path.join(
    os.path.dirname(__file__),
    "..",
    "maskformer",
    "data",
    "datasets",
    "metadata",
    "ade20k_instance_catid_mapping.json",
)


def instance_to_semantic() -> dict[int, int]:
    """Instance-challenge category (1-based) -> 0-based 150-class id."""
    with open(_MAPPING) as f:
        return {ins: sem - 1 for ins, sem in json.load(f)["instance_to_semantic"]}


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def _instances(ins: np.ndarray, mapping: dict[int, int], path: str) -> list[tuple[np.ndarray, int]]:
    """``(mask, 150-class id)`` per instance index of an instance PNG."""
    out = []
    for index in np.unique(ins[..., 1]):
        if index == 0:
            continue
        mask = ins[..., 1] == index
        categories = np.unique(ins[..., 0][mask])
        if len(categories) != 1 or int(categories[0]) not in mapping:
            raise ValueError(
                f"'{path}': instance {index} has categories {categories.tolist()}; expected one of 1..100."
            )
        out.append((mask, mapping[int(categories[0])]))
    return out


def panoptic_image(sem: np.ndarray, instances, isthing: dict[int, bool]) -> tuple[np.ndarray, list[dict]]:
    """Segment-id map and segments_info of one image (stuff first, then things on top)."""
    pan = np.zeros(sem.shape, dtype=np.int64)
    segments = []
    parts = [
        (sem == c + 1, c) for c in np.unique(sem.astype(np.int64) - 1) if 0 <= c < 150 and not isthing[c]
    ]
    for segment_id, (mask, category) in enumerate(parts + instances, start=1):
        pan[mask] = segment_id
        segments.append({"id": segment_id, "category_id": int(category), "iscrowd": 0})
    for segment in segments:  # areas and boxes of what stays visible after the overlaps
        mask = pan == segment["id"]
        segment.update(area=int(mask.sum()), bbox=_bbox(mask) if mask.any() else [0, 0, 0, 0])
    return pan, [s for s in segments if s["area"] > 0]


def convert_split(root: str, split: str) -> tuple[dict, dict]:
    """Writes one split's panoptic PNGs and both JSON files; returns (panoptic json, instance json)."""
    base = os.path.join(root, "ADEChallengeData2016")
    folder = _SPLITS[split]
    categories = load_categories("ade20k_150")
    isthing = {c["id"]: bool(c["isthing"]) for c in categories}
    mapping = instance_to_semantic()
    pan_dir = os.path.join(base, f"ade20k_panoptic_{split}")
    os.makedirs(pan_dir, exist_ok=True)
    images, pan_annotations, ins_annotations = [], [], []
    image_dir = os.path.join(base, "images", folder)
    for name in tqdm(sorted(n for n in os.listdir(image_dir) if n.endswith(".jpg")), desc=split):
        image_id = name[: -len(".jpg")]
        sem = np.asarray(Image.open(os.path.join(base, "annotations", folder, image_id + ".png")))
        ins_path = os.path.join(base, "annotations_instance", folder, image_id + ".png")
        instances = _instances(np.asarray(Image.open(ins_path).convert("RGB")), mapping, ins_path)
        images.append(
            {"id": image_id, "file_name": name, "height": int(sem.shape[0]), "width": int(sem.shape[1])}
        )
        pan, segments = panoptic_image(sem, instances, isthing)
        Image.fromarray(id2rgb(pan)).save(os.path.join(pan_dir, image_id + ".png"))
        pan_annotations.append(
            {"image_id": image_id, "file_name": image_id + ".png", "segments_info": segments}
        )
        for mask, category in instances:
            rle = bitmask_to_rle(mask)
            ins_annotations.append(
                {
                    "id": len(ins_annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "iscrowd": 0,
                    "bbox": _bbox(mask),
                    "area": int(mask.sum()),
                    "segmentation": rle,
                }
            )
    panoptic = {"images": images, "annotations": pan_annotations, "categories": categories}
    things = [{"id": c["id"], "name": c["name"]} for c in categories if c["isthing"]]
    instance = {"images": images, "annotations": ins_annotations, "categories": things}
    for data, path in (
        (panoptic, f"ade20k_panoptic_{split}.json"),
        (instance, f"ade20k_instance_{split}.json"),
    ):
        with open(os.path.join(base, path), "w") as f:
            json.dump(data, f)
    return panoptic, instance


if __name__ == "__main__":
    parser = root_argument_parser(__doc__)
    root = datasets_root(parser.parse_args().root)
    for split in _SPLITS:
        convert_split(root, split)
