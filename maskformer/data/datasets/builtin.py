"""The built-in splits: official names, layouts under the datasets root, metadata from metadata/*.json.

Nothing is registered on import; the tools call :func:`register_builtin_datasets`. Files are only
read when a split is loaded, so registering splits whose data is absent is harmless.
"""

from __future__ import annotations

import argparse
import logging
import os

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.cityscapes import (
    load_cityscapes_instances,
    load_cityscapes_panoptic,
    load_cityscapes_semantic,
)
from maskformer.data.datasets.coco_instances import register_coco_instances
from maskformer.data.datasets.coco_panoptic import register_coco_panoptic
from maskformer.data.datasets.from_config import missing_files_hint, register_datasets_from_config
from maskformer.data.datasets.metadata import (
    instance_metadata,
    load_categories,
    panoptic_metadata,
    semantic_metadata,
)
from maskformer.data.datasets.register_shapes import register_shapes
from maskformer.data.datasets.sem_seg import register_sem_seg

__all__ = ["datasets_root", "register_builtin_datasets", "register_datasets", "root_argument_parser"]

logger = logging.getLogger(__name__)

_SPLITS = {"train": ("train2017", "training"), "val": ("val2017", "validation")}


def datasets_root(root: str | None = None) -> str:
    """``root``, else ``$MASKFORMER_DATASETS``, else ``$DETECTRON2_DATASETS``, else ``./datasets``."""
    if root:
        return os.path.expanduser(root)
    return os.path.expanduser(
        os.environ.get("MASKFORMER_DATASETS") or os.environ.get("DETECTRON2_DATASETS") or "datasets"
    )


def root_argument_parser(doc: str) -> argparse.ArgumentParser:
    """The command line of the ``datasets/prepare_*.py`` scripts: ``--root`` (see :func:`datasets_root`).

    Args:
        doc: the script's docstring; its first line describes the command.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--root", default=None, help="datasets root (default: $MASKFORMER_DATASETS / ./datasets)"
    )
    return parser


def _register_coco(root: str) -> None:
    categories = load_categories("coco_panoptic")
    pan_meta = panoptic_metadata(categories)
    for split, (coco_split, _) in _SPLITS.items():
        instances_json = os.path.join(root, "coco/annotations", f"instances_{coco_split}.json")
        image_root = os.path.join(root, "coco", coco_split)
        common = (image_root, os.path.join(root, "coco", f"panoptic_{coco_split}"))
        panoptic_json = os.path.join(root, "coco/annotations", f"panoptic_{coco_split}.json")
        register_coco_panoptic(
            f"coco_2017_{split}_panoptic", pan_meta, *common, panoptic_json, None, instances_json
        )
        register_coco_panoptic(
            f"coco_2017_{split}_panoptic_with_sem_seg",
            pan_meta,
            *common,
            panoptic_json,
            os.path.join(root, "coco", f"panoptic_semseg_{coco_split}"),
            instances_json,
        )
        register_coco_instances(
            f"coco_2017_{split}", instance_metadata(categories), instances_json, image_root
        )
    stuff = load_categories("coco_stuff_171")
    stuff_meta = semantic_metadata(stuff) | {
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(stuff)}
    }
    for split in ("train", "test"):
        base = os.path.join(root, "coco/coco_stuff_10k")
        register_sem_seg(
            f"coco_2017_{split}_stuff_10k_sem_seg",
            stuff_meta,
            os.path.join(base, "images_detectron2", split),
            os.path.join(base, "annotations_detectron2", split),
        )


def _register_ade20k(root: str) -> None:
    categories = load_categories("ade20k_150")
    base = os.path.join(root, "ADEChallengeData2016")
    for split, (_, ade_split) in _SPLITS.items():
        image_root = os.path.join(base, "images", ade_split)
        sem_root = os.path.join(base, "annotations_detectron2", ade_split)
        instances_json = os.path.join(base, f"ade20k_instance_{split}.json")
        register_sem_seg(f"ade20k_sem_seg_{split}", semantic_metadata(categories), image_root, sem_root)
        register_coco_panoptic(
            f"ade20k_panoptic_{split}",
            panoptic_metadata(categories),
            image_root,
            os.path.join(base, f"ade20k_panoptic_{split}"),
            os.path.join(base, f"ade20k_panoptic_{split}.json"),
            sem_root,
            instances_json,
            evaluator_type="ade20k_panoptic_seg",
        )
        register_coco_instances(
            f"ade20k_instance_{split}", instance_metadata(categories), instances_json, image_root
        )
    full = load_categories("ade20k_full_847")
    full_meta = semantic_metadata(full) | {
        "stuff_dataset_id_to_contiguous_id": {c["id"]: c["trainId"] for c in full}
    }
    full_base = os.path.join(root, "ADE20K_2021_17_01")
    for split, (_, ade_split) in _SPLITS.items():
        register_sem_seg(
            f"ade20k_full_sem_seg_{split}",
            full_meta,
            os.path.join(full_base, "images_detectron2", ade_split),
            os.path.join(full_base, "annotations_detectron2", ade_split),
            gt_ext="tif",
            ignore_label=65535,
        )


def _register_cityscapes(root: str) -> None:
    categories = load_categories("cityscapes")
    things = load_categories("cityscapes_instance")
    base = os.path.join(root, "cityscapes")
    # thing_classes lists all 19 classes, as Detectron2's registration does: the panoptic model's
    # instances carry 19-class train ids, which the Cityscapes instance evaluator names by this list.
    pan_meta = panoptic_metadata(categories, all_thing_classes=True)
    pan_meta["thing_dataset_id_to_contiguous_id"] = {
        c["id"]: c["trainId"] for c in categories if c["isthing"]
    }
    pan_meta["stuff_dataset_id_to_contiguous_id"] = {c["id"]: c["trainId"] for c in categories}
    for split in ("train", "val"):
        image_dir = os.path.join(base, "leftImg8bit", split)
        gt_dir = os.path.join(base, "gtFine", split)
        views = {
            f"cityscapes_fine_sem_seg_{split}": (
                lambda i=image_dir, g=gt_dir: load_cityscapes_semantic(i, g),
                {"evaluator_type": "cityscapes_sem_seg", **semantic_metadata(categories)},
            ),
            f"cityscapes_fine_instance_seg_{split}": (
                lambda i=image_dir, g=gt_dir: load_cityscapes_instances(i, g, things),
                {"evaluator_type": "cityscapes_instance", **instance_metadata(things)},
            ),
            f"cityscapes_fine_panoptic_{split}": (
                lambda i=image_dir, g=gt_dir, s=split: load_cityscapes_panoptic(
                    i,
                    os.path.join(base, "gtFine", f"cityscapes_panoptic_{s}"),
                    os.path.join(base, "gtFine", f"cityscapes_panoptic_{s}.json"),
                    pan_meta,
                    g,
                ),
                {
                    "evaluator_type": "cityscapes_panoptic_seg",
                    "panoptic_root": os.path.join(base, "gtFine", f"cityscapes_panoptic_{split}"),
                    "panoptic_json": os.path.join(base, "gtFine", f"cityscapes_panoptic_{split}.json"),
                    "label_divisor": 1000,
                    **pan_meta,
                },
            ),
        }
        for name, (loader, meta) in views.items():
            DatasetCatalog.register(name, loader)
            MetadataCatalog.get(name).set(image_dir=image_dir, gt_dir=gt_dir, ignore_label=255, **meta)


def _register_mapillary(root: str) -> None:
    categories = load_categories("mapillary_vistas_65")
    base = os.path.join(root, "mapillary_vistas")
    for split, (_, folder) in _SPLITS.items():
        image_root = os.path.join(base, folder, "images")
        label_root = os.path.join(base, folder, "labels")
        register_sem_seg(
            f"mapillary_vistas_sem_seg_{split}",
            semantic_metadata(categories),
            image_root,
            label_root,
            ignore_label=65,
        )
        name = f"mapillary_vistas_panoptic_{split}"
        register_coco_panoptic(
            name,
            panoptic_metadata(categories, all_thing_classes=True),
            image_root,
            os.path.join(base, folder, "panoptic"),
            os.path.join(base, folder, "panoptic", "panoptic_2018.json"),
            label_root,
            evaluator_type="mapillary_vistas_panoptic_seg",
            ignore_label=65,
        )


# datasets/README.md section per split-name fragment; the first match wins.
_README_SECTIONS = (
    ("stuff_10k", "COCO-Stuff-10K"),
    ("coco", "COCO"),
    ("ade20k_full", "ADE20K-Full (847 classes)"),
    ("ade20k", "ADE20K (SceneParsing, 150 classes)"),
    ("cityscapes", "Cityscapes"),
    ("mapillary", "Mapillary Vistas (v1.2, 65 classes)"),
    ("shapes", 'Built-in synthetic "shapes" (no download)'),
)


def _set_missing_files_hints(names: set[str], root: str) -> None:
    """Gives each split's metadata the hint its missing-file errors carry (see DatasetCatalog.get)."""
    for name in names:
        section = next(s for fragment, s in _README_SECTIONS if fragment in name)
        MetadataCatalog.get(name).set(missing_files_hint=missing_files_hint(root, section))


def register_builtin_datasets(root: str | None = None) -> list[str]:
    """Registers every built-in split under the datasets root; calling it again is a no-op.

    Returns:
        the names registered by this call.
    """
    root = datasets_root(root)
    before = set(DatasetCatalog.list())
    if "coco_2017_train_panoptic" not in before:
        for register in (_register_coco, _register_ade20k, _register_cityscapes, _register_mapillary):
            register(root)
    register_shapes(root)
    names = sorted(set(DatasetCatalog.list()) - before)
    _set_missing_files_hints(set(names), root)
    logger.info("Registered %d built-in datasets under '%s'.", len(names), root)
    return names


def register_datasets(cfg, root: str | None = None) -> list[str]:
    """What every tool calls: the built-in splits, then the config's ``DATASETS.REGISTER`` entries.

    Args:
        cfg: the config.
        root: datasets root (default: :func:`datasets_root`).

    Returns:
        the names registered by this call.
    """
    return register_builtin_datasets(root) + register_datasets_from_config(cfg, root)
