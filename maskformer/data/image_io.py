"""Reading images and annotation maps from disk with clear errors naming the file."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["id2rgb", "read_image", "read_label_map", "read_panoptic_ids", "rgb2id"]

logger = logging.getLogger(__name__)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "I;16N")


def _open(path: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"Image file '{path}' does not exist. Check the dataset root ($MASKFORMER_DATASETS / "
            f"$DETECTRON2_DATASETS) and datasets/README.md for the expected layout."
        ) from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise OSError(f"Cannot decode image file '{path}' ({e}); the file is corrupt or not an image.") from e
    return image


def _to_8bit(image: Image.Image, path: str) -> Image.Image:
    """16-bit grayscale photos are scaled to 8 bit (PIL's RGB conversion would clip them)."""
    array = np.asarray(image, dtype=np.float64)
    logger.warning("Image '%s' is %s (16-bit); scaling it to 8 bit.", path, image.mode)
    return Image.fromarray(np.clip(np.round(array / 257.0), 0, 255).astype(np.uint8), mode="L")


def read_image(path: str, fmt: str = "RGB") -> np.ndarray:
    """Reads a photo as ``[H, W, 3]`` uint8 in ``fmt`` ("RGB" or "BGR").

    EXIF orientation is applied (as Detectron2 does); grayscale, palette, RGBA (alpha dropped) and
    16-bit images are converted to 3-channel 8-bit.

    Raises:
        FileNotFoundError / OSError: naming ``path`` when the file is missing or undecodable.
    """
    if fmt not in ("RGB", "BGR"):
        raise ValueError(f"INPUT.FORMAT must be 'RGB' or 'BGR', got '{fmt}'.")
    image = ImageOps.exif_transpose(_open(path))
    if image.mode in _SIXTEEN_BIT_MODES:
        image = _to_8bit(image, path)
    array = np.asarray(image.convert("RGB"))
    if fmt == "BGR":
        array = array[:, :, ::-1]
    return np.ascontiguousarray(array)


def read_label_map(path: str) -> np.ndarray:
    """Reads a single-channel label map (semantic PNG/TIF, 8 or 16 bit) as ``[H, W]`` int64."""
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "F"):
        raise ValueError(
            f"Semantic label map '{path}' has mode {image.mode}; expected a single-channel (L, P or 16-bit) "
            f"image of class ids. Convert it with datasets/prepare_*.py."
        )
    return np.asarray(image).astype(np.int64)


def rgb2id(color: np.ndarray) -> np.ndarray:
    """COCO panoptic colour ``[H, W, 3]`` -> segment id ``R + 256 G + 256^2 B`` (``[H, W]`` int64)."""
    color = color.astype(np.int64)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids ``[H, W]`` -> COCO panoptic colours ``[H, W, 3]`` uint8."""
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


def read_panoptic_ids(path: str) -> np.ndarray:
    """Reads a COCO panoptic PNG as a ``[H, W]`` int64 segment-id map (0 = void)."""
    image = _open(path)
    if image.mode != "RGB":
        raise ValueError(
            f"Panoptic PNG '{path}' has mode {image.mode}; COCO panoptic PNGs are RGB. Fix: regenerate it "
            "in RGB with segment ids encoded as R + 256 G + 256^2 B (panopticapi's id2rgb)."
        )
    return rgb2id(np.asarray(image))
