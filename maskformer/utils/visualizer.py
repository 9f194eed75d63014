"""Draws segmentation over images as RGB arrays, in the manner of Detectron2's ``Visualizer``.

What a reader expects from it: each stuff / semantic class in its dataset colour, each thing
instance in its own jittered shade of its class colour, a contour around every segment, a label
on a dark box (with the score for instances), a legend beside semantic maps, and a picture large
enough to read: inputs whose long side is under ``min_size`` are upscaled with nearest neighbours
(pixels stay visible, nothing is smoothed). Every function takes and returns ``[H, W, 3]`` uint8
RGB arrays, ready for ``cv2.imwrite(path, out[:, :, ::-1])`` or a notebook.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "MIN_DISPLAY_SIZE",
    "default_colors",
    "draw_instances",
    "draw_panoptic_seg",
    "draw_sem_seg",
    "jitter_color",
    "side_by_side",
    "upscale_nearest",
]

Color = tuple[int, int, int]
MIN_DISPLAY_SIZE = 512  # shortest long side of a drawing, in pixels
_FILL_ALPHA = 0.55
_MIN_LABEL_AREA = 0.0015  # segments smaller than this fraction of the image get no label


def default_colors(count: int) -> tuple[Color, ...]:
    """``count`` well-spread RGB colours (golden-ratio hue walk), for classes without a table colour."""
    colors = []
    for index in range(count):
        r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.65, 0.9)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colors)


def jitter_color(color: Sequence[int], seed: int) -> Color:
    """A shade of ``color`` told apart from its siblings (things of one class), fixed by ``seed``."""
    offset = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    offset *= 0.3 / max(float(np.linalg.norm(offset)), 1e-6)
    r, g, b = np.clip(np.asarray(color, np.float64) / 255.0 + offset, 0.0, 1.0) * 255.0
    return round(r), round(g), round(b)


def upscale_nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of ``[H, W]`` or ``[H, W, C]`` (any dtype, e.g. segment ids)."""
    h, w = array.shape[:2]
    rows = np.minimum((np.arange(height) * h) // height, h - 1)
    cols = np.minimum((np.arange(width) * w) // width, w - 1)
    return array[rows[:, None], cols[None, :]]


@dataclass
class _Segment:
    """One drawn region at display size: ``mask`` bool ``[H, W]``, fill colour, label ("" for none)."""

    mask: np.ndarray
    color: Color
    label: str


class _Canvas:
    """The (upscaled) image plus the drawing steps: fills, contours, labels."""

    def __init__(self, image: np.ndarray, min_size: int) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}.")
        h, w = image.shape[:2]
        scale = max(1.0, min_size / max(h, w))
        self.height, self.width = round(h * scale), round(w * scale)
        self.image = upscale_nearest(image, self.height, self.width)
        self.font = ImageFont.load_default(size=max(12, round(0.026 * np.sqrt(self.height * self.width))))

    def fit(self, array: np.ndarray) -> np.ndarray:
        """A ``[H, W]`` map at the input size, upscaled to the canvas."""
        return upscale_nearest(array, self.height, self.width)

    def draw(self, segments: Sequence[_Segment], alpha: float = _FILL_ALPHA) -> np.ndarray:
        out = self.image.astype(np.float32)
        for seg in segments:
            out[seg.mask] = out[seg.mask] * (1.0 - alpha) + np.asarray(seg.color, np.float32) * alpha
        out = out.round().clip(0, 255).astype(np.uint8)
        thickness = max(1, round(min(self.height, self.width) / 300))
        for seg in segments:
            contours, _ = cv2.findContours(seg.mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(out, contours, -1, _shade(seg.color, 0.6), thickness, cv2.LINE_AA)
        return self._labels(out, [s for s in segments if s.label and _labelled(s.mask)])

    def _labels(self, image: np.ndarray, segments: Sequence[_Segment]) -> np.ndarray:
        """Draws each label on a dark, semi-opaque box at its segment's most interior pixel."""
        base = Image.fromarray(image).convert("RGBA")
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        placed: list[tuple[int, int, int, int]] = []
        for seg in segments:
            x, y = _interior_point(seg.mask)
            left, top, right, bottom = draw.textbbox((0, 0), seg.label, font=self.font)
            pad = max(2, self.font.size // 6)
            w, h = right - left + 2 * pad, bottom - top + 2 * pad
            x0, y0 = self._free_spot(x - w // 2, y - h // 2, w, h, placed)
            placed.append((x0, y0, x0 + w, y0 + h))
            draw.rectangle(placed[-1], fill=(0, 0, 0, 170))
            text_color = _shade(seg.color, 1.6)
            draw.text((x0 + pad - left, y0 + pad - top), seg.label, font=self.font, fill=text_color)
        return np.asarray(Image.alpha_composite(base, layer).convert("RGB"))

    def _free_spot(
        self, x: int, y: int, w: int, h: int, placed: Sequence[tuple[int, int, int, int]]
    ) -> tuple[int, int]:
        """Top-left corner for a ``w`` x ``h`` label near ``(x, y)``, inside the canvas, avoiding the
        labels already ``placed`` (moved up or down by whole label heights; kept if nothing is free)."""
        candidates = []
        for shift in (0, 1, -1, 2, -2):
            cx = int(np.clip(x, 0, max(0, self.width - w)))
            cy = int(np.clip(y + shift * (h + 1), 0, max(0, self.height - h)))
            candidates.append((cx, cy))
            if not any(cx < x1 and x0 < cx + w and cy < y1 and y0 < cy + h for x0, y0, x1, y1 in placed):
                return cx, cy
        return candidates[0]


def _shade(color: Sequence[int], factor: float) -> Color:
    """Darker (``factor`` < 1) or lighter (> 1, towards white) version of ``color``."""
    c = np.asarray(color, np.float64)
    c = c * factor if factor <= 1 else c + (255.0 - c) * min(factor - 1.0, 1.0)
    r, g, b = np.clip(c, 0, 255)
    return round(r), round(g), round(b)


def _labelled(mask: np.ndarray) -> bool:
    return mask.mean() >= _MIN_LABEL_AREA


def _interior_point(mask: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` where a label reads best: among the pixels of ``mask`` deep inside it (at least 80%
    of the largest distance to its border), the one nearest to its centroid."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ys, xs = np.nonzero(dist >= 0.8 * dist.max())
    cy, cx = np.argwhere(mask).mean(axis=0)
    best = int(((ys - cy) ** 2 + (xs - cx) ** 2).argmin())
    return int(xs[best]), int(ys[best])


def _class_color(class_colors: Sequence[Sequence[int]] | None, class_id: int, count: int) -> Color:
    palette = class_colors if class_colors is not None else default_colors(count)
    r, g, b = palette[class_id]
    return int(r), int(g), int(b)


def draw_panoptic_seg(
    image: np.ndarray,
    panoptic_seg: np.ndarray,
    segments_info: Sequence[dict],
    class_names: Sequence[str],
    class_colors: Sequence[Sequence[int]] | None = None,
    min_size: int = MIN_DISPLAY_SIZE,
) -> np.ndarray:
    """Overlays a panoptic segmentation: stuff in class colours, each thing in its own shade.

    Args:
        image: ``[H, W, 3]`` uint8 RGB.
        panoptic_seg: ``[H, W]`` int segment ids, 0 = void (left uncoloured).
        segments_info: ``[{"id", "category_id", "isthing"}]`` (contiguous category ids).
        class_names: name of every contiguous category id.
        class_colors: RGB of every category id (default: :func:`default_colors`).
        min_size: the drawing's long side is at least this (nearest-neighbour upscaling).

    Returns:
        ``[H', W', 3]`` uint8 RGB, ``H' >= H``.
    """
    canvas = _Canvas(image, min_size)
    ids = canvas.fit(np.asarray(panoptic_seg))
    segments = []
    for seg in segments_info:
        color = _class_color(class_colors, seg["category_id"], len(class_names))
        if seg.get("isthing"):
            color = jitter_color(color, int(seg["id"]))
        segments.append(_Segment(ids == seg["id"], color, class_names[seg["category_id"]]))
    return canvas.draw(segments)


def draw_sem_seg(
    image: np.ndarray,
    sem_seg: np.ndarray,
    class_names: Sequence[str],
    class_colors: Sequence[Sequence[int]] | None = None,
    ignore_label: int = 255,
    min_size: int = MIN_DISPLAY_SIZE,
) -> np.ndarray:
    """Overlays a semantic label map ``[H, W]`` in class colours, with a legend on the right.

    Labels equal to ``ignore_label`` (or outside the class list) stay uncoloured. The legend lists
    the classes present, largest area first.
    """
    canvas = _Canvas(image, min_size)
    labels = canvas.fit(np.asarray(sem_seg))
    classes, counts = np.unique(labels, return_counts=True)
    present = [
        int(c)
        for c, _ in sorted(zip(classes, counts), key=lambda p: -p[1])
        if c != ignore_label and 0 <= c < len(class_names)
    ]
    colors = {c: _class_color(class_colors, c, len(class_names)) for c in present}
    drawing = canvas.draw([_Segment(labels == c, colors[c], class_names[c]) for c in present])
    return _with_legend(drawing, [(class_names[c], colors[c]) for c in present], canvas.font)


def _with_legend(image: np.ndarray, entries: Sequence[tuple[str, Color]], font) -> np.ndarray:
    """``image`` with a white column on its right listing ``(name, colour)`` swatches."""
    row = font.size + max(4, font.size // 2)
    text_w = max((int(font.getlength(name)) for name, _ in entries), default=0)
    width = text_w + 2 * row
    rows_fit = max(1, (image.shape[0] - row // 2) // row)
    panel = Image.new("RGB", (width, image.shape[0]), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    shown = list(entries[:rows_fit])
    if len(entries) > rows_fit:  # too many classes for the height: the smallest are summarised
        shown[-1] = (f"+{len(entries) - rows_fit + 1} more", (255, 255, 255))
    for index, (name, color) in enumerate(shown):
        top = row // 2 + index * row
        draw.rectangle((row // 3, top, row // 3 + font.size, top + font.size), fill=color, outline=(0, 0, 0))
        draw.text((row // 3 + font.size + row // 3, top), name, font=font, fill=(0, 0, 0))
    return np.concatenate([image, np.asarray(panel)], axis=1)


def draw_instances(
    image: np.ndarray,
    masks: np.ndarray,
    classes: Sequence[int],
    scores: Sequence[float] | None,
    class_names: Sequence[str],
    class_colors: Sequence[Sequence[int]] | None = None,
    min_size: int = MIN_DISPLAY_SIZE,
) -> np.ndarray:
    """Overlays instance masks ``[N, H, W]`` bool, each in a shade of its class colour.

    Labels read "name 93%" (or "name" when ``scores`` is None); larger instances are drawn first,
    so that small ones stay visible on top.
    """
    canvas = _Canvas(image, min_size)
    masks = np.asarray(masks, dtype=bool)
    order = np.argsort(-masks.reshape(len(masks), -1).sum(axis=1), kind="stable")
    segments = []
    for index in order:
        c = int(classes[index])
        label = class_names[c] if scores is None else f"{class_names[c]} {100 * float(scores[index]):.0f}%"
        color = jitter_color(_class_color(class_colors, c, len(class_names)), int(index) + 1)
        segments.append(_Segment(canvas.fit(masks[index]), color, label))
    return canvas.draw(segments)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 6) -> np.ndarray:
    """``left | right`` on a white background; ``left`` is upscaled (nearest) to ``right``'s height."""
    height = right.shape[0]
    scale = height / left.shape[0]
    left = upscale_nearest(left, height, max(1, round(left.shape[1] * scale)))
    spacer = np.full((height, gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)
