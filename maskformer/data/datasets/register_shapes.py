"""Registration of the synthetic shapes dataset: panoptic, instance and semantic views of each split."""

from __future__ import annotations

import os

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.coco_instances import load_coco_json
from maskformer.data.datasets.coco_panoptic import load_coco_panoptic_json
from maskformer.data.datasets.metadata import instance_metadata, panoptic_metadata, semantic_metadata
from maskformer.data.datasets.sem_seg import load_sem_seg
from maskformer.data.datasets.shapes import SHAPES_CATEGORIES, ShapesSpec, ensure_shapes_dataset

__all__ = ["register_shapes"]


def _paths(root: str, spec: ShapesSpec, split: str) -> dict[str, str]:
    base = os.path.join(root, spec.dirname, split)
    return {
        "image_root": os.path.join(base, "images"),
        "panoptic_root": os.path.join(base, "panoptic"),
        "panoptic_json": os.path.join(base, "panoptic.json"),
        "json_file": os.path.join(base, "instances.json"),
        "sem_seg_root": os.path.join(base, "sem_seg"),
    }


def register_shapes(root: str, spec: ShapesSpec | None = None, prefix: str = "shapes") -> list[str]:
    """Registers ``{prefix}_{train,val}_{panoptic,instance,sem_seg}``; files are generated on first load.

    The panoptic view is laid out like COCO's ``coco_2017_val_panoptic_with_sem_seg`` (evaluator
    ``coco_panoptic_seg`` with ``panoptic_root``, ``panoptic_json``, ``json_file`` of the instances
    and ``sem_seg_root``), so it can be evaluated for PQ, mask AP and mIoU at once.

    Returns:
        the names registered by this call (names already registered are skipped).
    """
    spec = spec or ShapesSpec()
    pan_meta = panoptic_metadata(SHAPES_CATEGORIES)
    registered = []

    def ensure() -> None:
        ensure_shapes_dataset(root, spec)

    for split in ("train", "val"):
        p = _paths(root, spec, split)

        def load_panoptic(p=p):
            ensure()
            return load_coco_panoptic_json(
                p["panoptic_json"], p["image_root"], p["panoptic_root"], pan_meta, p["sem_seg_root"]
            )

        def load_instances(p=p, name=f"{prefix}_{split}_instance"):
            ensure()
            return load_coco_json(p["json_file"], p["image_root"], name)

        def load_semantic(p=p):
            ensure()
            return load_sem_seg(p["sem_seg_root"], p["image_root"], "png", "png")

        views = {
            f"{prefix}_{split}_panoptic": (
                load_panoptic,
                {"evaluator_type": "coco_panoptic_seg", **pan_meta, **p},
            ),
            f"{prefix}_{split}_instance": (
                load_instances,
                {"evaluator_type": "coco", "json_file": p["json_file"], "image_root": p["image_root"]}
                | instance_metadata(SHAPES_CATEGORIES),
            ),
            f"{prefix}_{split}_sem_seg": (
                load_semantic,
                {
                    "evaluator_type": "sem_seg",
                    "image_root": p["image_root"],
                    "sem_seg_root": p["sem_seg_root"],
                }
                | semantic_metadata(SHAPES_CATEGORIES),
            ),
        }
        for name, (loader, meta) in views.items():
            if name in DatasetCatalog:
                continue
            DatasetCatalog.register(name, loader)
            MetadataCatalog.get(name).set(ignore_label=255, label_divisor=1000, **meta)
            registered.append(name)
    return registered
