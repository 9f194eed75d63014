"""Semantic segmentation format: images and label maps paired by file name."""

from __future__ import annotations

import logging
import os
from typing import Any

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog

__all__ = ["load_sem_seg", "register_sem_seg"]

logger = logging.getLogger(__name__)


def _files_by_stem(root: str, ext: str) -> dict[str, str]:
    """Relative path without extension -> absolute path, for every ``*.ext`` file under ``root``."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Folder '{root}' does not exist. See datasets/README.md for the layout.")
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith("." + ext):
                rel = os.path.relpath(os.path.join(folder, name), root)
                found[rel[: -len(ext) - 1]] = os.path.join(folder, name)
    return found


def load_sem_seg(gt_root: str, image_root: str, gt_ext: str = "png", image_ext: str = "jpg") -> list[dict]:
    """Pairs every label map under ``gt_root`` with the image of the same relative name.

    Returns:
        dicts with ``file_name, sem_seg_file_name`` sorted by file name (no ``height``/``width``:
        the mappers take them from the image, as Detectron2 does).

    Raises:
        FileNotFoundError: when a label map has no image (lists a few of them).
    """
    labels = _files_by_stem(gt_root, gt_ext)
    images = _files_by_stem(image_root, image_ext)
    missing = sorted(set(labels) - set(images))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} label maps in '{gt_root}' have no '.{image_ext}' image in '{image_root}', "
            f"e.g. {missing[:3]}. Check the image_ext / gt_ext and the layout in datasets/README.md."
        )
    unlabeled = len(set(images) - set(labels))
    if unlabeled:
        logger.warning("%d images in '%s' have no label map and are not used.", unlabeled, image_root)
    if not labels:
        raise FileNotFoundError(f"No '*.{gt_ext}' label maps under '{gt_root}'.")
    dicts = [
        {"file_name": images[stem], "sem_seg_file_name": labels[stem], "image_id": stem}
        for stem in sorted(labels)
    ]
    logger.info("Loaded %d images with semantic segmentation from %s.", len(dicts), image_root)
    return dicts


def register_sem_seg(
    name: str,
    metadata: dict[str, Any],
    image_root: str,
    sem_seg_root: str,
    gt_ext: str = "png",
    image_ext: str = "jpg",
    ignore_label: int = 255,
    evaluator_type: str = "sem_seg",
) -> None:
    """Registers a semantic segmentation dataset whose label maps hold contiguous ids 0..K-1.

    Args:
        name: dataset name.
        metadata: e.g. ``semantic_metadata(categories)`` (``stuff_classes``, ``stuff_colors``).
        image_root: folder of the images.
        sem_seg_root: folder of the label maps (same relative names as the images).
        gt_ext: extension of the label maps ("png", "tif").
        image_ext: extension of the images.
        ignore_label: label value that is not trained or evaluated.
        evaluator_type: "sem_seg" by default.
    """
    DatasetCatalog.register(name, lambda: load_sem_seg(sem_seg_root, image_root, gt_ext, image_ext))
    MetadataCatalog.get(name).set(
        image_root=image_root,
        sem_seg_root=sem_seg_root,
        evaluator_type=evaluator_type,
        ignore_label=ignore_label,
        **metadata,
    )
