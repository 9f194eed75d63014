"""Draws segmentation results over images (panoptic, semantic, instances) as RGB arrays.

Kept deliberately small: colour fill with alpha blending, segment boundaries, and a class
label at each segment's most interior pixel. Everything works on numpy arrays so the output can
be written with OpenCV or shown in a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["draw_panoptic_seg", "draw_sem_seg", "draw_instances", "random_color"]


def random_color(index: int) -> tuple[int, int, int]:
    """A deterministic, well-spread RGB colour for an integer (golden-ratio hue walk)."""
    hue = (index * 0.618033988749895) % 1.0
    hsv = np.uint8([[[int(hue * 179), 200, 230]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _label_anchor(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its border (where a label reads best): (x, y)."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(x), int(y)


def _overlay(
    image: np.ndarray,
    masks: Sequence[np.ndarray],
    colors: Sequence[tuple[int, int, int]],
    labels: Sequence[str],
    alpha: float,
) -> np.ndarray:
    """Blends coloured masks into ``image`` [H, W, 3] uint8 RGB, draws contours and labels."""
    out = image.astype(np.float32).copy()
    for mask, color in zip(masks, colors):
        out[mask] = out[mask] * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    out = out.clip(0, 255).astype(np.uint8)
    scale = max(0.3, min(image.shape[:2]) / 500.0)
    for mask, color, label in zip(masks, colors, labels):
        if not mask.any():
            continue
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
        if label:
            x, y = _label_anchor(mask)
            cv2.putText(out, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
            cv2.putText(out, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
    return out


def draw_panoptic_seg(
    image: np.ndarray,
    panoptic_seg: np.ndarray,
    segments_info: Sequence[dict],
    class_names: Sequence[str],
    alpha: float = 0.5,
) -> np.ndarray:
    """Overlays a panoptic result.

    Args:
        image: ``[H, W, 3]`` uint8 RGB.
        panoptic_seg: ``[H, W]`` int segment ids, 0 = void.
        segments_info: ``[{"id", "category_id", "isthing"}]`` (contiguous category ids).
        class_names: name of every contiguous category id.
        alpha: fill opacity.

    Returns:
        ``[H, W, 3]`` uint8 RGB.
    """
    masks = [panoptic_seg == s["id"] for s in segments_info]
    colors = [
        random_color(s["category_id"] * 7 + (s["id"] if s.get("isthing") else 0)) for s in segments_info
    ]
    labels = [class_names[s["category_id"]] for s in segments_info]
    return _overlay(image, masks, colors, labels, alpha)


def draw_sem_seg(
    image: np.ndarray,
    sem_seg: np.ndarray,
    class_names: Sequence[str],
    ignore_label: int = 255,
    alpha: float = 0.5,
) -> np.ndarray:
    """Overlays a semantic label map ``[H, W]`` (ints, ``ignore_label`` left uncoloured)."""
    classes = [int(c) for c in np.unique(sem_seg) if c != ignore_label and c < len(class_names)]
    masks = [sem_seg == c for c in classes]
    return _overlay(
        image, masks, [random_color(c * 7) for c in classes], [class_names[c] for c in classes], alpha
    )


def draw_instances(
    image: np.ndarray,
    masks: np.ndarray,
    classes: Sequence[int],
    scores: Sequence[float],
    class_names: Sequence[str],
    alpha: float = 0.5,
) -> np.ndarray:
    """Overlays instance masks ``[N, H, W]`` bool with "name score" labels."""
    labels = [f"{class_names[c]} {s:.2f}" for c, s in zip(classes, scores)]
    colors = [random_color(i + 1) for i in range(len(labels))]
    return _overlay(image, list(masks), colors, labels, alpha)
