"""Deterministic geometric / photometric transforms, applied alike to images, label maps and polygons.

A transform holds fully decided parameters (an :class:`~.augmentation.Augmentation` draws them),
so applying the same transform to the image, the semantic map, the panoptic map and the instance
masks keeps them aligned pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from maskformer.structures.masks import clip_polygon

__all__ = [
    "ColorTransform",
    "CropTransform",
    "HFlipTransform",
    "PadTransform",
    "ResizeTransform",
    "Transform",
    "TransformList",
    "VFlipTransform",
]


class Transform:
    """Base class; the default methods leave their input unchanged.

    Images are ``[H, W, C]`` uint8; label maps are ``[H, W]`` or a stack ``[N, H, W]`` of any
    integer/bool dtype; polygons are lists of flat ``[x0, y0, ...]`` arrays (a crop clips them
    to its window, the other transforms move their vertices).
    """

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return image

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        """Transforms label maps; ``pad_value`` fills pixels that did not exist (padding)."""
        return segmentation

    def apply_sem_seg(self, sem_seg: np.ndarray, pad_value: int = 0) -> np.ndarray:
        """Transforms semantic label maps (as :meth:`apply_segmentation` unless a resize says otherwise)."""
        return self.apply_segmentation(sem_seg, pad_value)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        """Transforms ``[N, 2]`` float ``(x, y)`` points in absolute pixel coordinates."""
        return coords

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return [
            self.apply_coords(np.asarray(p, dtype=np.float64).reshape(-1, 2)).reshape(-1) for p in polygons
        ]


class TransformList(Transform):
    """Applies several transforms in order."""

    def __init__(self, transforms: list[Transform]) -> None:
        self.transforms = list(transforms)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            image = t.apply_image(image)
        return image

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        for t in self.transforms:
            segmentation = t.apply_segmentation(segmentation, pad_value)
        return segmentation

    def apply_sem_seg(self, sem_seg: np.ndarray, pad_value: int = 0) -> np.ndarray:
        for t in self.transforms:
            sem_seg = t.apply_sem_seg(sem_seg, pad_value)
        return sem_seg

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            coords = t.apply_coords(coords)
        return coords

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        for t in self.transforms:
            polygons = t.apply_polygons(polygons)
        return polygons


def _pil_nearest(size: int, new_size: int) -> np.ndarray:
    """Source index of each output index for PIL's nearest resize.

    PIL samples at pixel centres, ``(dst + 0.5) * in / out``, accumulated by repeated float64
    additions of ``in / out``; the same accumulation (``cumsum`` is sequential) reproduces its
    indices bit for bit, including the ties a closed-form product would round the other way.
    """
    steps = np.full(new_size, size / new_size)
    steps[0] *= 0.5
    return np.minimum(np.cumsum(steps).astype(np.int64), size - 1)


def _torch_nearest(size: int, new_size: int) -> np.ndarray:
    """Source index of each output index for ``F.interpolate(mode="nearest")``.

    ``floor(dst * (in / out))`` with the scale and the product in float32, as torch computes it,
    so the indices agree bit for bit.
    """
    scale = np.float32(size) / np.float32(new_size)
    return np.minimum(np.floor(np.arange(new_size, dtype=np.float32) * scale).astype(np.int64), size - 1)


class ResizeTransform(Transform):
    """Resizes ``(h, w) -> (new_h, new_w)``: bilinear for images (PIL, as Detectron2), nearest for maps.

    Label maps (panoptic PNGs, RLE bitmasks) use PIL's nearest rule, as Detectron2 does for uint8
    arrays; semantic maps use torch's ``nearest`` rule, because the official mappers read them as
    float and Detectron2 resizes non-uint8 arrays with ``F.interpolate``.
    """

    def __init__(self, h: int, w: int, new_h: int, new_w: int) -> None:
        self.h, self.w, self.new_h, self.new_w = h, w, new_h, new_w

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        if (self.h, self.w) == (self.new_h, self.new_w):
            return image
        pil = Image.fromarray(image)
        return np.asarray(pil.resize((self.new_w, self.new_h), Image.Resampling.BILINEAR))

    def _nearest(self, segmentation: np.ndarray, source_index) -> np.ndarray:
        if (self.h, self.w) == (self.new_h, self.new_w):
            return segmentation
        rows, cols = source_index(self.h, self.new_h), source_index(self.w, self.new_w)
        return segmentation[..., rows[:, None], cols[None, :]]  # indexing: every dtype works

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return self._nearest(segmentation, _pil_nearest)

    def apply_sem_seg(self, sem_seg: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return self._nearest(sem_seg, _torch_nearest)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = coords.copy()
        coords[:, 0] *= self.new_w / self.w
        coords[:, 1] *= self.new_h / self.h
        return coords


class CropTransform(Transform):
    """Keeps the window ``[y0, y0 + h) x [x0, x0 + w)``."""

    def __init__(self, x0: int, y0: int, w: int, h: int) -> None:
        self.x0, self.y0, self.w, self.h = x0, y0, w, h

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w]

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return segmentation[..., self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w]

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords - np.array([self.x0, self.y0], dtype=coords.dtype)

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        """Clips each polygon to the window (as Detectron2); parts left without area are dropped."""
        window = (self.x0, self.y0, self.x0 + self.w, self.y0 + self.h)
        clipped = [clip_polygon(p, window) for p in polygons]
        return super().apply_polygons([p for p in clipped if len(p)])


class PadTransform(Transform):
    """Pads at the bottom / right to ``(h + pad_bottom, w + pad_right)``.

    Images get ``image_pad_value``; label maps get the ``pad_value`` their caller passes
    (ignore label for semantic maps, 0 = void for panoptic maps and binary masks).
    """

    def __init__(self, pad_bottom: int, pad_right: int, image_pad_value: float = 128.0) -> None:
        self.pad_bottom, self.pad_right, self.image_pad_value = pad_bottom, pad_right, image_pad_value

    def _pad(self, array: np.ndarray, value: float, spatial_axes: tuple[int, int]) -> np.ndarray:
        widths = [(0, 0)] * array.ndim
        widths[spatial_axes[0]] = (0, self.pad_bottom)
        widths[spatial_axes[1]] = (0, self.pad_right)
        return np.pad(array, widths, constant_values=value)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return self._pad(image, self.image_pad_value, (0, 1))

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return self._pad(segmentation, pad_value, (segmentation.ndim - 2, segmentation.ndim - 1))


class HFlipTransform(Transform):
    """Mirrors left-right an image of width ``width``."""

    def __init__(self, width: int) -> None:
        self.width = width

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return image[:, ::-1]

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return segmentation[..., :, ::-1]

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = coords.copy()
        coords[:, 0] = self.width - coords[:, 0]
        return coords


class VFlipTransform(Transform):
    """Mirrors top-bottom an image of height ``height``."""

    def __init__(self, height: int) -> None:
        self.height = height

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return image[::-1]

    def apply_segmentation(self, segmentation: np.ndarray, pad_value: int = 0) -> np.ndarray:
        return segmentation[..., ::-1, :]

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = coords.copy()
        coords[:, 1] = self.height - coords[:, 1]
        return coords


class ColorTransform(Transform):
    """SSD-style photometric distortion with pre-drawn parameters (image only).

    Args:
        brightness: added offset, or None to skip.
        contrast: multiplier, or None.
        saturation: multiplier of the HSV saturation, or None.
        hue: shift of the OpenCV hue (0..180), or None.
        contrast_first: apply contrast before (True) or after (False) saturation and hue.
        image_format: "RGB" or "BGR" (OpenCV's HSV conversion expects BGR).
    """

    def __init__(
        self,
        brightness: float | None,
        contrast: float | None,
        saturation: float | None,
        hue: int | None,
        contrast_first: bool,
        image_format: str = "RGB",
    ) -> None:
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.contrast_first, self.image_format = contrast_first, image_format

    @staticmethod
    def _convert(array: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
        return np.clip(array.astype(np.float64) * alpha + beta, 0, 255).astype(np.uint8)

    def _hsv(self, image: np.ndarray) -> np.ndarray:
        if self.saturation is None and self.hue is None:
            return image
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        if self.saturation is not None:
            hsv[:, :, 1] = self._convert(hsv[:, :, 1], alpha=self.saturation)
        if self.hue is not None:
            hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int64) + self.hue) % 180).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(image[:, :, ::-1] if self.image_format == "RGB" else image)
        if self.brightness is not None:
            bgr = self._convert(bgr, beta=self.brightness)
        if self.contrast_first and self.contrast is not None:
            bgr = self._convert(bgr, alpha=self.contrast)
        bgr = self._hsv(bgr)
        if not self.contrast_first and self.contrast is not None:
            bgr = self._convert(bgr, alpha=self.contrast)
        out = bgr[:, :, ::-1] if self.image_format == "RGB" else bgr
        return np.ascontiguousarray(out)
