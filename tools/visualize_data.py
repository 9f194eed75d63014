"""Draws training targets over their images: raw annotations or the augmented training batches.

    python tools/visualize_data.py --config-file configs/shapes/... --source dataloader \
        --output-dir vis/ --num-images 16 [KEY VALUE ...]

``--source annotation`` maps the first ``DATASETS.TRAIN`` split without augmentation (what is on
disk); ``--source dataloader`` draws what the model sees (augmented, padded). One PNG per image:
the image on the left, its targets on the right, drawn as the demo draws predictions (stuff in its
class colour, each thing in its own shade, labels, >= 512 px).
"""

from __future__ import annotations

import argparse
import itertools
import os

import cv2
import numpy as np

from maskformer.config import load_config
from maskformer.data import (
    ClassInfo,
    MetadataCatalog,
    build_mapper,
    build_train_loader,
    get_dataset_dicts,
)
from maskformer.data.datasets.builtin import register_datasets
from maskformer.utils.visualizer import draw_panoptic_seg, side_by_side


def draw_targets(sample: dict, classes: ClassInfo, image_format: str) -> np.ndarray:
    """``image | targets`` (RGB) of a mapped sample: its target masks with class names."""
    image = sample["image"].permute(1, 2, 0).numpy()
    image = np.ascontiguousarray(image[:, :, ::-1] if image_format == "BGR" else image)
    instances = sample["instances"]
    segment_map = np.zeros(image.shape[:2], dtype=np.int64)
    segments = []
    for index, (mask, category) in enumerate(zip(instances.gt_masks.numpy(), instances.gt_classes.tolist())):
        segment_map[mask] = index + 1
        segments.append({"id": index + 1, "category_id": category, "isthing": classes.isthing(category)})
    drawing = draw_panoptic_seg(image, segment_map, segments, classes.names, classes.colors)
    return side_by_side(image, drawing)


def samples(cfg, source: str, count: int):
    """The first ``count`` mapped samples of the chosen source."""
    if source == "dataloader":
        return itertools.islice(itertools.chain.from_iterable(build_train_loader(cfg)), count)
    mapper = build_mapper(cfg, is_train=True)
    mapper.augmentations = []
    dicts = get_dataset_dicts(cfg.DATASETS.TRAIN[:1], cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    return (mapper(d) for d in dicts[:count])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--source", choices=("annotation", "dataloader"), default="dataloader")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-images", type=int, default=16)
    parser.add_argument("--root", default=None, help="datasets root (default: $MASKFORMER_DATASETS)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    cfg = load_config(args.config_file, args.opts, freeze=False)
    register_datasets(cfg, args.root)
    classes = ClassInfo.from_metadata(MetadataCatalog.get(cfg.DATASETS.TRAIN[0]))
    os.makedirs(args.output_dir, exist_ok=True)
    for index, sample in enumerate(samples(cfg, args.source, args.num_images)):
        drawing = draw_targets(sample, classes, cfg.INPUT.FORMAT)
        stem = os.path.splitext(os.path.basename(sample["file_name"]))[0]
        cv2.imwrite(os.path.join(args.output_dir, f"{index:04d}_{stem}.png"), drawing[:, :, ::-1])
    print(f"wrote {args.num_images} images to {args.output_dir}")


if __name__ == "__main__":
    main()
