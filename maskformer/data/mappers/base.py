"""The shared mapper core: read -> augment -> pad -> to tensors; subclasses only build targets.

Pipeline of :meth:`MapperBase.__call__` (one dataset dict -> one model input dict):

1. read the image (``INPUT.FORMAT``) and the annotation maps the subclass asks for;
2. draw the augmentations from the per-sample RNG and apply them to image and maps alike (the
   subclass may then derive more maps from the transforms, e.g. rasterise polygons);
3. pad image and maps at the bottom/right to ``size_divisibility`` (image 128, semantic map the
   ignore label, panoptic map 0 = void), as the official mappers do;
4. convert to tensors and let the subclass build ``instances`` (``gt_classes``, ``gt_masks``).

The output is the model input of ``maskformer.modeling.contract`` (fields, dtypes, shapes).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch

from maskformer.data.image_io import read_image
from maskformer.data.transforms import Augmentation, PadTransform, Transform, apply_augmentations
from maskformer.structures import Instances

__all__ = ["MapperBase", "masks_to_instances"]

logger = logging.getLogger(__name__)

IMAGE_PAD_VALUE = 128.0  # the official mappers pad images with 128 (mean grey) before normalisation


class MapperBase:
    """Common part of every mapper; subclasses implement :meth:`read_maps` and :meth:`build_targets`.

    Args:
        is_train: whether targets are produced.
        augmentations: applied in order.
        image_format: "RGB" or "BGR".
        ignore_label: semantic ignore value (also the semantic padding value).
        size_divisibility: pad H and W to a multiple of this (<= 0: no padding).
    """

    def __init__(
        self,
        *,
        is_train: bool = True,
        augmentations: list[Augmentation],
        image_format: str = "RGB",
        ignore_label: int = 255,
        size_divisibility: int = -1,
    ) -> None:
        self.is_train, self.augmentations = is_train, list(augmentations)
        self.image_format, self.ignore_label = image_format, ignore_label
        self.size_divisibility = size_divisibility

    def read_maps(self, record: dict, image_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        """Annotation maps ``name -> [H, W] (or [N, H, W])`` to transform alike with the image."""
        return {}

    def constraint_map(self, record: dict, maps: dict[str, np.ndarray]) -> np.ndarray | None:
        """Semantic map for the crop constraint (None: unconstrained crop)."""
        return maps.get("sem_seg")

    def pad_values(self) -> dict[str, int]:
        """Fill value of each map for pixels created by padding."""
        return {"sem_seg": self.ignore_label}

    def after_augmentation(
        self, record: dict, maps: dict[str, np.ndarray], transforms: Transform, image_hw: tuple[int, int]
    ) -> dict[str, np.ndarray]:
        """Maps derived once the augmentations are drawn (e.g. polygons rasterised at ``image_hw``).

        Args:
            record: the (copied) dataset dict.
            maps: the annotation maps, already transformed to ``image_hw``.
            transforms: the augmentations' transforms (mapper padding excluded).
            image_hw: ``(H, W)`` of the augmented, not yet padded, image.
        """
        return maps

    def build_targets(
        self, record: dict, maps: dict[str, torch.Tensor], image_hw: tuple[int, int]
    ) -> Instances:
        raise NotImplementedError

    def _padding(self, h: int, w: int) -> Transform:
        if self.size_divisibility <= 0:
            return Transform()
        d = self.size_divisibility
        return PadTransform((-h) % d, (-w) % d, IMAGE_PAD_VALUE)

    def _transform_maps(self, maps: dict[str, np.ndarray], transform: Transform) -> dict[str, np.ndarray]:
        """Semantic maps (``sem_seg``) with the semantic resize rule, the others as label maps."""
        pad_values = self.pad_values()
        return {
            name: (transform.apply_sem_seg if name == "sem_seg" else transform.apply_segmentation)(
                array, pad_values.get(name, 0)
            )
            for name, array in maps.items()
        }

    def __call__(
        self, dataset_dict: dict[str, Any], rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Maps one dataset dict (see module docstring); ``rng`` defaults to a fresh unseeded one."""
        record = copy.deepcopy(dataset_dict)
        return self.map_image(record, read_image(record["file_name"], self.image_format), rng)

    def map_image(
        self, record: dict[str, Any], image: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Steps 2-4 on an image already read: the one test-time resize the Predictor shares.

        Args:
            record: the dataset dict, completed in place (``height``/``width`` of ``image`` when absent).
            image: ``[H, W, 3]`` uint8 in ``image_format``.
            rng: draws the augmentations; defaults to a fresh unseeded one.
        """
        rng = rng if rng is not None else np.random.default_rng()
        _check_size(record, image)
        maps = self.read_maps(record, image.shape[:2]) if self.is_train else {}
        image, _, transforms = apply_augmentations(
            self.augmentations, image, self.constraint_map(record, maps), rng
        )
        maps = self._transform_maps(maps, transforms)
        if self.is_train:
            maps = self.after_augmentation(record, maps, transforms, image.shape[:2])
        padding = self._padding(*image.shape[:2])
        image = padding.apply_image(image)
        maps = self._transform_maps(maps, padding)
        record["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if not self.is_train:
            return record
        tensors = {name: torch.as_tensor(np.ascontiguousarray(array)) for name, array in maps.items()}
        if "sem_seg" in tensors:
            record["sem_seg"] = tensors["sem_seg"].long()
        record["instances"] = self.build_targets(record, tensors, image.shape[:2])
        record.pop("annotations", None)
        return record


def _check_size(record: dict, image: np.ndarray) -> None:
    """Fills ``height``/``width`` from the image, or checks them against it (EXIF already applied)."""
    h, w = image.shape[:2]
    expected = (record.get("height", h), record.get("width", w))
    if expected != (h, w):
        raise ValueError(
            f"Image '{record.get('file_name', '<array>')}' is {h}x{w} but its annotation says "
            f"{expected[0]}x{expected[1]}. "
            f"Fix the 'height'/'width' in the annotation file (or the image's EXIF orientation)."
        )
    record["height"], record["width"] = h, w


def masks_to_instances(
    classes: list[int], masks: torch.Tensor | list[torch.Tensor], image_hw: tuple[int, int]
) -> Instances:
    """One target per class id and mask, empty masks included (as the official mappers).

    A mask emptied by a crop is still a target: it takes part in the matching and in the number
    of masks that normalises the mask losses.

    Args:
        classes: ``N`` contiguous class ids.
        masks: ``[N, H, W]`` bool tensor or list of ``[H, W]`` bool tensors.
        image_hw: ``(H, W)`` of the padded image.
    """
    h, w = image_hw
    if isinstance(masks, list):
        masks = torch.stack(masks) if masks else torch.zeros((0, h, w), dtype=torch.bool)
    gt_classes = torch.tensor(classes, dtype=torch.int64).reshape(-1)
    return Instances((h, w), gt_classes=gt_classes, gt_masks=masks.bool())
