"""Mask conversions: polygons / RLE / bitmasks, and binary masks to boxes.

Polygons follow COCO: a list of flat ``[x0, y0, x1, y1, ...]`` lists in absolute pixel coordinates
(a pixel ``(y, x)`` covers ``[x, x + 1) x [y, y + 1)``). RLE follows pycocotools: a dict with
``size`` ``[h, w]`` and ``counts`` (a compressed ``str``/``bytes``, or an uncompressed list).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import torch

__all__ = [
    "bitmask_to_polygons",
    "bitmask_to_rle",
    "clip_polygon",
    "masks_to_boxes",
    "polygons_to_bitmask",
    "rle_to_bitmask",
    "segmentation_to_bitmask",
]


def polygons_to_bitmask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterises COCO polygons (union of all parts) with pycocotools, as the COCO API does.

    Args:
        polygons: list of flat ``[x0, y0, x1, y1, ...]`` lists (each with >= 3 points).
        height: image height.
        width: image width.

    Returns:
        ``[height, width]`` bool array.
    """
    if len(polygons) == 0:
        return np.zeros((height, width), dtype=bool)
    rles = mask_utils.frPyObjects([np.asarray(p, dtype=np.float64).tolist() for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def _polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a ``[K, 2]`` polygon (absolute value)."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2.0


def _clip_half_plane(points: np.ndarray, axis: int, bound: float, keep_above: bool) -> np.ndarray:
    """One Sutherland-Hodgman step: the part of ``points`` ``[K, 2]`` on one side of ``p[axis] = bound``."""
    inside = points[:, axis] >= bound if keep_above else points[:, axis] <= bound
    out = []
    for i in range(len(points)):
        prev, cur = points[i - 1], points[i]
        if inside[i] != inside[i - 1]:  # the edge prev -> cur crosses the line
            t = (bound - prev[axis]) / (cur[axis] - prev[axis])
            crossing = prev + t * (cur - prev)
            crossing[axis] = bound
            out.append(crossing)
        if inside[i]:
            out.append(cur)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def clip_polygon(polygon: np.ndarray | list[float], box: tuple[float, float, float, float]) -> np.ndarray:
    """The part of a polygon inside an axis-aligned box (Sutherland-Hodgman).

    Where the box cuts a concave polygon into several parts, they come back as one polygon joined
    by zero-width edges along the box border, which rasterises exactly as the separate parts.

    Args:
        polygon: flat ``[x0, y0, x1, y1, ...]`` in absolute pixel coordinates.
        box: ``(x0, y0, x1, y1)``.

    Returns:
        flat float64 ``[2M]`` array; empty when less than a positive area is left (the polygon
        misses the box or only touches it).
    """
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x0, y0, x1, y1 = box
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(points) < 3:
            break
        points = _clip_half_plane(points, axis, bound, keep_above)
    if len(points) < 3 or _polygon_area(points) == 0.0:
        return np.zeros(0, dtype=np.float64)
    return points.reshape(-1)


def rle_to_bitmask(rle: dict[str, Any]) -> np.ndarray:
    """Decodes a compressed or uncompressed RLE dict into a ``[h, w]`` bool array."""
    if isinstance(rle.get("counts"), list):
        height, width = rle["size"]
        rle = mask_utils.frPyObjects(rle, height, width)
    return mask_utils.decode(rle).astype(bool)


def bitmask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encodes a ``[h, w]`` binary mask as a compressed RLE with ``counts`` as ``str`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def bitmask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of a binary mask as COCO polygons (holes are not represented).

    Contours are traced on the mask upsampled 2x, so the vertices lie a quarter pixel inside the
    pixel edges; pycocotools rasterises such polygons back to exactly the original pixels (tracing
    pixel centres instead loses about half of every boundary pixel). Parts with fewer than 3
    vertices are dropped because COCO cannot represent them.

    Args:
        mask: ``[h, w]`` binary mask.

    Returns:
        list of flat ``[x0, y0, ...]`` float lists in absolute pixel coordinates.
    """
    upsampled = np.repeat(np.repeat(mask.astype(np.uint8), 2, axis=0), 2, axis=1)
    contours, _ = cv2.findContours(upsampled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        if len(contour) < 3:
            continue
        polygons.append(((contour.reshape(-1, 2).astype(np.float64) + 0.5) / 2.0).reshape(-1).tolist())
    return polygons


def segmentation_to_bitmask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Any COCO ``segmentation`` (polygons, RLE dict, or a ``[h, w]`` array) to a bool array.

    Raises:
        ValueError: for an unsupported type or an RLE whose size differs from ``(height, width)``.
    """
    if isinstance(segmentation, list):
        return polygons_to_bitmask(segmentation, height, width)
    if isinstance(segmentation, dict):
        if tuple(segmentation["size"]) != (height, width):
            raise ValueError(
                f"RLE of size {segmentation['size']} does not match the image size {(height, width)}."
            )
        return rle_to_bitmask(segmentation)
    if isinstance(segmentation, np.ndarray) and segmentation.shape == (height, width):
        return segmentation.astype(bool)
    raise ValueError(
        f"Unsupported segmentation of type {type(segmentation).__name__}: expected COCO polygons "
        f"(list of lists), an RLE dict, or a [{height}, {width}] array."
    )


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight XYXY boxes around binary masks.

    The box covers whole pixels: a mask with a single pixel at ``(y, x)`` gets
    ``[x, y, x + 1, y + 1]``, as in Detectron2's ``BitMasks.get_bounding_boxes``. Empty masks get
    an all-zero box.

    Args:
        masks: ``[N, H, W]`` bool or {0, 1} tensor.

    Returns:
        ``[N, 4]`` float32 boxes ``(x0, y0, x1, y1)`` in absolute pixels.
    """
    boxes = torch.zeros(masks.shape[0], 4, dtype=torch.float32, device=masks.device)
    if masks.numel() == 0:
        return boxes
    # max over uint8 is vectorised, torch's any over a dim much less (5-20x slower).
    masks = masks.bool().view(torch.uint8)
    any_x = masks.amax(dim=1).bool()  # [N, W]
    any_y = masks.amax(dim=2).bool()  # [N, H]
    nonempty = any_x.any(dim=1)
    xs = torch.arange(masks.shape[2], device=masks.device)
    ys = torch.arange(masks.shape[1], device=masks.device)
    big = masks.shape[1] + masks.shape[2]
    x0 = torch.where(any_x, xs, big).min(dim=1).values
    x1 = torch.where(any_x, xs, -1).max(dim=1).values + 1
    y0 = torch.where(any_y, ys, big).min(dim=1).values
    y1 = torch.where(any_y, ys, -1).max(dim=1).values + 1
    stacked = torch.stack([x0, y0, x1, y1], dim=1).float()
    boxes[nonempty] = stacked[nonempty]
    return boxes
