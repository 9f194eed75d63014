"""COCO instance format: loader (via pycocotools) and registration."""

from __future__ import annotations

import logging
from typing import Any

import pycocotools.mask as mask_utils
from pycocotools.coco import COCO

from maskformer.data.catalog import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.annotation_files import join_inside
from maskformer.data.datasets.coco_instance_checks import load_coco_api

__all__ = ["BoxMode_XYWH_ABS", "load_coco_json", "register_coco_instances"]

logger = logging.getLogger(__name__)

BoxMode_XYWH_ABS = 1  # Detectron2's BoxMode.XYWH_ABS, the COCO box convention
_ANNOTATION_KEYS = ("iscrowd", "bbox", "category_id")


def _mask_field(segmentation: Any) -> Any:
    """Uncompressed RLE (list counts) is compressed; polygons and compressed RLE pass through."""
    if isinstance(segmentation, dict) and isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, *segmentation["size"])
    return segmentation


def _convert_annotation(ann: dict, id_map: dict[int, int], json_file: str, image: dict) -> dict:
    if ann.get("ignore", 0) != 0:
        raise ValueError(f"'{json_file}': annotation {ann.get('id')} has 'ignore', which is not supported.")
    if ann["category_id"] not in id_map:
        raise ValueError(
            f"'{json_file}': annotation {ann.get('id')} of image '{image['file_name']}' has category_id "
            f"{ann['category_id']}, not in the categories {sorted(id_map)}. Fix the JSON or "
            f"the category table."
        )
    obj = {key: ann[key] for key in _ANNOTATION_KEYS if key in ann}
    obj["iscrowd"] = int(obj.get("iscrowd", 0))
    obj["bbox_mode"] = BoxMode_XYWH_ABS
    obj["category_id"] = id_map[ann["category_id"]]
    return obj


def _category_map(coco: COCO, meta: dict[str, Any] | None) -> tuple[list[str], dict[int, int]]:
    if meta and "thing_dataset_id_to_contiguous_id" in meta:
        id_map = {int(k): v for k, v in meta["thing_dataset_id_to_contiguous_id"].items()}
        return list(meta.get("thing_classes", [])), id_map
    cat_ids = sorted(coco.getCatIds())
    return [c["name"] for c in coco.loadCats(cat_ids)], {c: i for i, c in enumerate(cat_ids)}


def load_coco_json(json_file: str, image_root: str, dataset_name: str | None = None) -> list[dict]:
    """Reads a COCO instance JSON into dataset dicts (Detectron2's standard fields).

    Category ids map to contiguous ids by the metadata of ``dataset_name`` when it has
    ``thing_dataset_id_to_contiguous_id``, else by sorted category id (and the metadata is filled).
    The file must pass :func:`check_instance_json` (the official loader instead drops annotations
    whose polygons are all degenerate, and pycocotools then fails or misreads them in evaluation).

    Returns:
        dicts with ``file_name, height, width, image_id, annotations`` (``iscrowd, bbox`` XYWH,
        ``bbox_mode, category_id`` contiguous, ``segmentation`` polygons or compressed RLE).
    """
    coco = load_coco_api(json_file)
    meta = MetadataCatalog.get(dataset_name).as_dict() if dataset_name else None
    classes, id_map = _category_map(coco, meta)
    if dataset_name and "thing_dataset_id_to_contiguous_id" not in meta:
        MetadataCatalog.get(dataset_name).set(thing_classes=classes, thing_dataset_id_to_contiguous_id=id_map)
    dicts = []
    for image_id in sorted(coco.imgs):
        image = coco.imgs[image_id]
        record = {
            "file_name": join_inside(image_root, image["file_name"], f"'{json_file}' image {image_id!r}"),
            "height": int(image["height"]),
            "width": int(image["width"]),
            "image_id": image_id,
            "annotations": [],
        }
        for ann in coco.imgToAnns.get(image_id, []):
            obj = _convert_annotation(ann, id_map, json_file, image)
            obj["segmentation"] = _mask_field(ann["segmentation"])
            record["annotations"].append(obj)
        dicts.append(record)
    logger.info("Loaded %d images in COCO format from %s.", len(dicts), json_file)
    return dicts


def register_coco_instances(
    name: str, metadata: dict[str, Any], json_file: str, image_root: str, evaluator_type: str = "coco"
) -> None:
    """Registers a COCO-instance-format dataset.

    Args:
        name: dataset name.
        metadata: extra metadata, e.g. ``instance_metadata(categories)``; may be empty, then the
            classes come from the JSON's categories when the dataset is first loaded.
        json_file: the COCO instance JSON.
        image_root: folder of the images.
        evaluator_type: "coco" by default.
    """
    DatasetCatalog.register(name, lambda: load_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type=evaluator_type)
    MetadataCatalog.get(name).set(**metadata)
