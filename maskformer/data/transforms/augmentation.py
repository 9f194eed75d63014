"""Augmentations: draw the parameters of a :class:`Transform` from an explicit RNG.

Every augmentation takes a ``numpy.random.Generator`` rather than touching the global RNG, so a
mapper seeded per sample gives the same result whatever the number of workers or processes.
The sampling rules follow Detectron2's / Mask2Former's augmentations of the same names.
"""

from __future__ import annotations

import numpy as np

from .transform import (
    ColorTransform,
    CropTransform,
    HFlipTransform,
    PadTransform,
    ResizeTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "Augmentation",
    "ColorAugSSD",
    "FixedSizeCrop",
    "RandomApply",
    "RandomCrop",
    "RandomCropCategoryAreaConstraint",
    "RandomFlip",
    "ResizeScale",
    "ResizeShortestEdge",
    "apply_augmentations",
]


class Augmentation:
    """Draws a transform for one image; ``sem_seg`` (``[H, W]`` or None) is used by crop constraints."""

    def get_transform(
        self, image: np.ndarray, sem_seg: np.ndarray | None, rng: np.random.Generator
    ) -> Transform:
        raise NotImplementedError

    def apply(
        self, image: np.ndarray, sem_seg: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None, Transform]:
        """Draws the transform and applies it to ``image`` ``[H, W, C]`` and ``sem_seg`` ``[H, W]``."""
        t = self.get_transform(image, sem_seg, rng)
        return t.apply_image(image), None if sem_seg is None else t.apply_sem_seg(sem_seg), t


def apply_augmentations(
    augmentations: list[Augmentation], image: np.ndarray, sem_seg: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, TransformList]:
    """Applies augmentations in order, each seeing the output of the previous ones.

    Returns:
        the transformed image, the transformed ``sem_seg`` (padding filled with 0; callers that
        need the ignore value re-apply the returned transforms), and the composed transforms.
    """
    transforms = []
    for aug in augmentations:
        image, sem_seg, t = aug.apply(image, sem_seg, rng)
        transforms.append(t)
    return image, sem_seg, TransformList(transforms)


class RandomApply(Augmentation):
    """Applies a list of augmentations in order with probability ``prob``, else nothing.

    Args:
        augmentations: applied together (each sees the output of the previous one) or not at all.
        prob: probability of applying them.
    """

    def __init__(self, augmentations: list[Augmentation], prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"RandomApply probability must be in [0, 1], got {prob}.")
        self.augmentations, self.prob = list(augmentations), prob

    def apply(self, image, sem_seg, rng):
        if rng.random() >= self.prob:
            return image, sem_seg, Transform()
        return apply_augmentations(self.augmentations, image, sem_seg, rng)

    def get_transform(self, image, sem_seg, rng):
        return self.apply(image, sem_seg, rng)[2]


class ResizeShortestEdge(Augmentation):
    """Resizes the short edge to a drawn length, keeping the long edge <= ``max_size``.

    Args:
        short_edge_length: candidate lengths ("choice") or ``[min, max]`` ("range"); 0 = no resize.
        max_size: cap on the long edge.
        sample_style: "choice" or "range".
    """

    def __init__(
        self, short_edge_length: list[int] | int, max_size: int = 10**9, sample_style: str = "range"
    ):
        if isinstance(short_edge_length, int):
            short_edge_length = [short_edge_length, short_edge_length]
        if sample_style not in ("choice", "range"):
            raise ValueError(
                f"INPUT.MIN_SIZE_TRAIN_SAMPLING must be 'choice' or 'range', got '{sample_style}'."
            )
        if sample_style == "range" and len(short_edge_length) != 2:
            raise ValueError(
                f"INPUT.MIN_SIZE_TRAIN_SAMPLING 'range' needs two sizes [min, max], got {short_edge_length}."
            )
        self.lengths, self.max_size, self.sample_style = list(short_edge_length), max_size, sample_style

    @staticmethod
    def output_size(h: int, w: int, short: int, max_size: int) -> tuple[int, int]:
        scale = short / min(h, w)
        new_h, new_w = (short, scale * w) if h < w else (scale * h, short)
        if max(new_h, new_w) > max_size:
            shrink = max_size / max(new_h, new_w)
            new_h, new_w = new_h * shrink, new_w * shrink
        return int(new_h + 0.5), int(new_w + 0.5)

    def get_transform(self, image, sem_seg, rng):
        h, w = image.shape[:2]
        if self.sample_style == "range":
            short = int(rng.integers(self.lengths[0], self.lengths[1] + 1))
        else:
            short = int(self.lengths[int(rng.integers(len(self.lengths)))])
        if short == 0:
            return Transform()
        return ResizeTransform(h, w, *self.output_size(h, w, short, self.max_size))


class RandomFlip(Augmentation):
    """Flips with probability ``prob``, horizontally or vertically."""

    def __init__(self, prob: float = 0.5, horizontal: bool = True) -> None:
        self.prob, self.horizontal = prob, horizontal

    def get_transform(self, image, sem_seg, rng):
        if rng.random() >= self.prob:
            return Transform()
        h, w = image.shape[:2]
        return HFlipTransform(w) if self.horizontal else VFlipTransform(h)


class RandomCrop(Augmentation):
    """Random crop of a drawn size (Detectron2's crop types).

    Args:
        crop_type: "relative" (fraction), "relative_range" (fraction in [size, 1]), "absolute"
            (pixels), "absolute_range" (pixels in [min, max]).
        crop_size: ``(h, w)`` for the first three, ``(min, max)`` for "absolute_range".
    """

    _TYPES = ("relative", "relative_range", "absolute", "absolute_range")

    def __init__(self, crop_type: str, crop_size: tuple[float, float] | list[float]) -> None:
        if crop_type not in self._TYPES:
            raise ValueError(f"INPUT.CROP.TYPE must be one of {self._TYPES}, got '{crop_type}'.")
        self.crop_type, self.crop_size = crop_type, tuple(crop_size)

    def crop_hw(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
        a, b = self.crop_size
        if self.crop_type == "relative":
            return int(h * a + 0.5), int(w * b + 0.5)
        if self.crop_type == "relative_range":
            return int(h * rng.uniform(a, 1.0) + 0.5), int(w * rng.uniform(b, 1.0) + 0.5)
        if self.crop_type == "absolute":
            return min(int(a), h), min(int(b), w)
        crop_h = int(rng.integers(min(h, int(a)), min(h, int(b)) + 1))
        return crop_h, int(rng.integers(min(w, int(a)), min(w, int(b)) + 1))

    def draw_window(self, h: int, w: int, rng: np.random.Generator) -> CropTransform:
        crop_h, crop_w = self.crop_hw(h, w, rng)
        y0 = int(rng.integers(h - crop_h + 1))
        x0 = int(rng.integers(w - crop_w + 1))
        return CropTransform(x0, y0, crop_w, crop_h)

    def get_transform(self, image, sem_seg, rng):
        return self.draw_window(*image.shape[:2], rng)


class RandomCropCategoryAreaConstraint(RandomCrop):
    """Random crop in which no single category covers more than ``single_category_max_area``.

    Up to 10 windows are drawn; the first whose most frequent non-ignored label covers less than
    that fraction of the non-ignored pixels (and which holds at least two labels) is used, else
    the last one (the official procedure). Without a semantic map this is a plain random crop.
    """

    def __init__(
        self,
        crop_type: str,
        crop_size: tuple[float, float] | list[float],
        single_category_max_area: float = 1.0,
        ignored_category: int | None = None,
        max_tries: int = 10,
    ) -> None:
        super().__init__(crop_type, crop_size)
        self.single_category_max_area, self.ignored_category = single_category_max_area, ignored_category
        self.max_tries = max_tries

    def get_transform(self, image, sem_seg, rng):
        h, w = image.shape[:2]
        if self.single_category_max_area >= 1.0 or sem_seg is None:
            return self.draw_window(h, w, rng)
        for _ in range(self.max_tries):
            crop = self.draw_window(h, w, rng)
            labels, counts = np.unique(crop.apply_segmentation(sem_seg), return_counts=True)
            if self.ignored_category is not None:
                counts = counts[labels != self.ignored_category]
            if len(counts) > 1 and counts.max() < counts.sum() * self.single_category_max_area:
                break
        return crop


class ResizeScale(Augmentation):
    """LSJ resize: scale ``(target_h, target_w)`` by ``U(min_scale, max_scale)``, fit the image inside."""

    def __init__(self, min_scale: float, max_scale: float, target_height: int, target_width: int) -> None:
        self.min_scale, self.max_scale = min_scale, max_scale
        self.target_height, self.target_width = target_height, target_width

    def get_transform(self, image, sem_seg, rng):
        h, w = image.shape[:2]
        scale = rng.uniform(self.min_scale, self.max_scale)
        factor = min(self.target_height * scale / h, self.target_width * scale / w)
        new_h, new_w = (np.array([h, w], dtype=np.float64) * factor).round().astype(int)
        return ResizeTransform(h, w, int(new_h), int(new_w))


class FixedSizeCrop(Augmentation):
    """LSJ crop: a random ``crop_size`` window (one uniform offset fraction for both axes), then
    bottom/right padding up to ``crop_size`` when the image is smaller."""

    def __init__(self, crop_size: tuple[int, int], pad: bool = True, image_pad_value: float = 128.0) -> None:
        self.crop_size, self.pad, self.image_pad_value = tuple(crop_size), pad, image_pad_value

    def get_transform(self, image, sem_seg, rng):
        h, w = image.shape[:2]
        out_h, out_w = self.crop_size
        fraction = rng.uniform(0.0, 1.0)
        y0 = int(np.round(max(h - out_h, 0) * fraction))
        x0 = int(np.round(max(w - out_w, 0) * fraction))
        transforms = [CropTransform(x0, y0, min(w, out_w), min(h, out_h))]
        if self.pad and (h < out_h or w < out_w):
            transforms.append(PadTransform(max(out_h - h, 0), max(out_w - w, 0), self.image_pad_value))
        return TransformList(transforms)


class ColorAugSSD(Augmentation):
    """SSD photometric distortion (Mask2Former's ``ColorAugSSDTransform``), each part with prob 0.5.

    Brightness in ``[-32, 32]``, contrast and saturation in ``[0.5, 1.5]``, hue shift in
    ``[-18, 18]`` (OpenCV's 0..180 hue); contrast comes first or last with equal probability.
    """

    def __init__(
        self,
        image_format: str = "RGB",
        brightness_delta: int = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
    ) -> None:
        self.image_format, self.brightness_delta, self.hue_delta = image_format, brightness_delta, hue_delta
        self.contrast_range, self.saturation_range = contrast_range, saturation_range

    def get_transform(self, image, sem_seg, rng):
        def maybe(value):
            return value if rng.random() < 0.5 else None

        brightness = maybe(rng.uniform(-self.brightness_delta, self.brightness_delta))
        contrast_first = bool(rng.random() < 0.5)
        contrast = maybe(rng.uniform(*self.contrast_range))
        saturation = maybe(rng.uniform(*self.saturation_range))
        hue = maybe(int(rng.integers(-self.hue_delta, self.hue_delta + 1)))
        return ColorTransform(brightness, contrast, saturation, hue, contrast_first, self.image_format)
