"""A hand-made COCO instance ground truth (two categories, rectangle masks) and predictions on it."""

import json

import numpy as np
import pycocotools.mask as mask_util
import torch

from maskformer.structures import Instances, masks_to_boxes

H, W = 40, 48
CATEGORIES = [{"id": 3, "name": "car"}, {"id": 7, "name": "bus"}]
TO_DATASET = {0: 3, 1: 7}


def rect(y, x, h, w):
    """An ``H x W`` boolean mask that is True on the rectangle ``[y, y + h) x [x, x + w)``."""
    mask = np.zeros((H, W), bool)
    mask[y : y + h, x : x + w] = True
    return mask


def write_instance_gt(tmp_path, per_image):
    """Writes ``instances.json`` of ``per_image`` lists of ``(mask, dataset category id)``; its path."""
    annotations = []
    for image_id, objects in enumerate(per_image):
        for mask, cat in objects:
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            bbox = mask_util.toBbox(rle).tolist()
            rle["counts"] = rle["counts"].decode("utf-8")
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cat,
                    "segmentation": rle,
                    "area": float(mask.sum()),
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
    images = [{"id": i, "height": H, "width": W, "file_name": f"{i}.jpg"} for i in range(len(per_image))]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return str(path)


def pred_instances(masks, scores, classes):
    """A prediction ``Instances`` of ``H x W`` masks with their scores, contiguous classes and boxes."""
    masks = torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, H, W, dtype=torch.bool)
    return Instances(
        (H, W),
        pred_masks=masks,
        scores=torch.tensor(scores, dtype=torch.float32),
        pred_classes=torch.tensor(classes, dtype=torch.int64),
        pred_boxes=masks_to_boxes(masks),
    )
