"""Built-in synthetic "shapes" dataset, written in the real COCO panoptic / instance / semantic formats.

Every image holds 2-3 textured stuff regions (sky, grass, water, wall) and 1-5 solid, faintly shaded
things (circle, square, triangle, star). As in real scenes (sky is blue, grass is green), each class
has a typical hue, jittered per region and object, on top of its own geometry (things) or texture
(stuff); brightness and saturation vary per object, so touching things of one class stay separable.
Things overlap (later ones occlude earlier ones), some touch the border and a few are tiny.

Files under ``<root>/<dirname>/<split>/``: ``images/*.png``, ``panoptic/*.png`` +
``panoptic.json`` (COCO panoptic), ``instances.json`` (COCO instances, polygons and RLE),
``sem_seg/*.png`` (contiguous ids). Each image is drawn from its own RNG seeded by
``(seed, split, index)``, so the bytes do not depend on the generation order.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from maskformer.data.image_io import id2rgb
from maskformer.structures.masks import bitmask_to_polygons, bitmask_to_rle

__all__ = [
    "GENERATOR_VERSION",
    "SHAPES_CATEGORIES",
    "ShapesSpec",
    "ensure_shapes_dataset",
    "generate_shapes_split",
    "write_shapes_dataset",
]

logger = logging.getLogger(__name__)

# Dataset ids are deliberately not contiguous so that the id mapping is exercised.
SHAPES_CATEGORIES = [
    {"id": 1, "name": "circle", "isthing": 1, "color": [220, 20, 60], "supercategory": "shape"},
    {"id": 2, "name": "square", "isthing": 1, "color": [0, 0, 142], "supercategory": "shape"},
    {"id": 3, "name": "triangle", "isthing": 1, "color": [250, 170, 30], "supercategory": "shape"},
    {"id": 4, "name": "star", "isthing": 1, "color": [119, 11, 32], "supercategory": "shape"},
    {"id": 11, "name": "sky", "isthing": 0, "color": [70, 130, 180], "supercategory": "background"},
    {"id": 12, "name": "grass", "isthing": 0, "color": [107, 142, 35], "supercategory": "background"},
    {"id": 13, "name": "water", "isthing": 0, "color": [0, 80, 100], "supercategory": "background"},
    {"id": 14, "name": "wall", "isthing": 0, "color": [102, 102, 156], "supercategory": "background"},
]
# Typical colour of each class: hue centre in degrees (jittered by +-_HUE_JITTER), saturation and
# value ranges. Thing hues are saturated and at least 40 degrees apart; stuff is duller.
_PALETTES = {
    "circle": (0, (0.75, 1.0), (0.75, 1.0)),
    "square": (270, (0.6, 0.9), (0.6, 1.0)),
    "triangle": (55, (0.75, 1.0), (0.8, 1.0)),
    "star": (315, (0.75, 1.0), (0.8, 1.0)),
    "sky": (210, (0.25, 0.55), (0.8, 1.0)),
    "grass": (115, (0.5, 0.9), (0.35, 0.75)),
    "water": (180, (0.5, 0.9), (0.3, 0.6)),
    "wall": (25, (0.3, 0.6), (0.3, 0.6)),
}
_HUE_JITTER = 12.0
_THINGS = [c for c in SHAPES_CATEGORIES if c["isthing"]]
_STUFF = [c for c in SHAPES_CATEGORIES if not c["isthing"]]
_CONTIGUOUS = {c["id"]: i for i, c in enumerate(SHAPES_CATEGORIES)}
_MIN_VISIBLE_AREA = 6  # pixels; smaller visible remnants of occluded things are not annotated
_SPLIT_CODES = {"train": 0, "val": 1}
# Bumped whenever the rendering changes; a folder written by another version is refused.
GENERATOR_VERSION = 2
_VERSION_FILE = "GENERATOR_VERSION"


@dataclass(frozen=True)
class ShapesSpec:
    """Parameters of a generated shapes dataset; non-default values go into the folder name."""

    image_size: int = 128
    num_train: int = 2000
    num_val: int = 100
    seed: int = 0

    @property
    def dirname(self) -> str:
        if self == ShapesSpec():
            return "shapes"
        return f"shapes_{self.image_size}px_{self.num_train}tr_{self.num_val}va_seed{self.seed}"

    def num_images(self, split: str) -> int:
        return {"train": self.num_train, "val": self.num_val}[split]


def _stuff_texture(name: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """``[H, W]`` pattern in [0, 1]: the texture of a stuff class (orientation and scale)."""
    size = yy.shape[0]
    if name == "sky":  # fine horizontal bands
        return 0.5 + 0.5 * np.sin(2 * np.pi * yy / rng.uniform(3.5, 5.0) + rng.uniform(0, 2 * np.pi))
    if name == "grass":  # thin vertical blades: noise per column, slightly varying along y
        columns = rng.random(size)[None, :]
        return np.clip(columns + 0.15 * rng.standard_normal((size, size)), 0, 1)
    if name == "water":  # diagonal waves
        period = rng.uniform(5, 8)
        return 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) / (np.sqrt(2) * period) + rng.uniform(0, 2 * np.pi))
    brick_h, brick_w = int(rng.integers(6, 10)), int(rng.integers(12, 20))  # wall: bricks and mortar
    row = yy.astype(np.int64) // brick_h
    shifted = xx.astype(np.int64) + (row % 2) * (brick_w // 2)
    mortar = (yy.astype(np.int64) % brick_h == 0) | (shifted % brick_w == 0)
    return mortar.astype(np.float64)


def _stuff_layout(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """``[H, W]`` region index in [0, k) from a warped Voronoi partition with k = 2 or 3 regions."""
    k = int(rng.integers(2, 4))
    seeds = rng.uniform(0, size, (k, 2)).astype(np.float32)
    warp_y = 0.08 * size * np.sin(xx / rng.uniform(8, 20) + rng.uniform(0, 6.3))
    warp_x = 0.08 * size * np.sin(yy / rng.uniform(8, 20) + rng.uniform(0, 6.3))
    dist = (yy[None] + warp_y[None] - seeds[:, 0, None, None]) ** 2
    dist = dist + (xx[None] + warp_x[None] - seeds[:, 1, None, None]) ** 2
    return np.argmin(dist, axis=0)


def _thing_polygon(name: str, rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """Vertices ``[P, 2]`` (x, y) of a randomly rotated shape inscribed in a circle of ``radius``."""
    rotation = rng.uniform(0, 2 * np.pi)
    if name == "circle":
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = np.full(48, radius)
    elif name == "square":
        angles = rotation + np.arange(4) * np.pi / 2
        radii = np.full(4, radius)
    elif name == "triangle":
        angles = rotation + np.arange(3) * 2 * np.pi / 3
        radii = np.full(3, radius)
    else:  # star: 5 outer points, inner radius 0.45 of the outer one
        angles = rotation + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def _class_color(name: str, rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour ``[3]`` in [0, 255] from the typical colours of class ``name``."""
    hue, saturation, value = _PALETTES[name]
    hue = (hue + rng.uniform(-_HUE_JITTER, _HUE_JITTER)) % 360
    hsv = np.array([[[hue, rng.uniform(*saturation), rng.uniform(*value)]]], dtype=np.float32)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] * 255


def _paint(
    canvas: np.ndarray, region: np.ndarray, rng: np.random.Generator, name: str, pattern: np.ndarray
) -> None:
    """Mixes two colours of class ``name`` by ``pattern`` inside ``region`` (``canvas`` ``[H, W, 3]``)."""
    color_a, color_b = _class_color(name, rng), _class_color(name, rng)
    mixed = color_a + pattern[..., None].astype(np.float32) * (color_b - color_a)
    np.copyto(canvas, mixed, where=region[..., None])  # whole-image ops beat boolean indexing here


def _thing_pattern(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A solid fill with a faint shading."""
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    return 0.15 * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)


def _draw_things(rng, size, yy, xx, canvas, pan, next_id):
    """Draws 1-5 things onto ``canvas`` / ``pan``; returns ``[(segment_id, category), ...]``.

    Sizes are relative to the image (diameter 15-45% of its side, 5% tiny ones of 7-11%), so a
    larger ``image_size`` renders the same scenes at a finer resolution.
    """
    things = []
    for _ in range(int(rng.integers(1, 6))):
        category = _THINGS[int(rng.integers(len(_THINGS)))]
        tiny = rng.random() < 0.05
        diameter = size * (rng.uniform(0.07, 0.11) if tiny else rng.uniform(0.15, 0.45))
        cx, cy = rng.uniform(-0.1 * diameter, size + 0.1 * diameter, 2)
        vertices = _thing_polygon(category["name"], rng, cx, cy, diameter / 2)
        mask = np.zeros((size, size), dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(vertices * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        mask = mask.astype(bool)
        if not mask.any():
            continue
        _paint(canvas, mask, rng, category["name"], _thing_pattern(rng, yy, xx))
        pan[mask] = next_id
        things.append((next_id, category))
        next_id += 1
    return things


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def render_image(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Renders one image.

    Returns:
        image ``[H, W, 3]`` uint8 RGB, panoptic id map ``[H, W]`` int64, and segments
        ``[{"id", "category_id", "isthing", "mask"}]`` (visible masks, non-overlapping).
    """
    rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    pan = np.zeros((size, size), dtype=np.int64)
    layout = _stuff_layout(rng, size, yy, xx)
    stuff_order = rng.permutation(len(_STUFF))
    segments = []
    for region_index in range(int(layout.max()) + 1):
        category = _STUFF[int(stuff_order[region_index])]
        region = layout == region_index
        if not region.any():
            continue
        _paint(canvas, region, rng, category["name"], _stuff_texture(category["name"], rng, yy, xx))
        pan[region] = region_index + 1
        segments.append({"id": region_index + 1, "category": category})
    for segment_id, category in _draw_things(rng, size, yy, xx, canvas, pan, next_id=len(segments) + 1):
        segments.append({"id": segment_id, "category": category})
    out = []
    for segment in segments:
        mask = pan == segment["id"]
        area = int(mask.sum())
        if area == 0 or (segment["category"]["isthing"] and area < _MIN_VISIBLE_AREA):
            pan[mask] = 0  # an almost hidden thing becomes void rather than an unlearnable target
            continue
        out.append({"id": segment["id"], "category_id": segment["category"]["id"], "mask": mask})
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return image, pan, out


def _write_png(path: str, array: np.ndarray) -> None:
    # OpenCV's PNG writer is about twice as fast as PIL's at the same (low) compression level.
    bgr = array[..., ::-1] if array.ndim == 3 else array
    if not cv2.imwrite(path, np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"Cannot write '{path}'.")


def generate_shapes_split(out_dir: str, split: str, spec: ShapesSpec) -> None:
    """Writes one split (images, panoptic PNGs + JSON, instance JSON, semantic PNGs) into ``out_dir``."""
    for sub in ("images", "panoptic", "sem_seg"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    images, pan_annotations, instances = [], [], []
    for index in tqdm(range(spec.num_images(split)), desc=f"shapes {split}", leave=False):
        image, pan, segments = render_image(spec.seed, split, index, spec.image_size)
        stem = f"{index:06d}"
        image_id = index + 1
        _write_png(os.path.join(out_dir, "images", stem + ".png"), image)
        _write_png(os.path.join(out_dir, "panoptic", stem + ".png"), id2rgb(pan))
        semantic = np.full(pan.shape, 255, dtype=np.uint8)
        segments_info = []
        for segment in segments:
            semantic[segment["mask"]] = _CONTIGUOUS[segment["category_id"]]
            info = {"id": segment["id"], "category_id": segment["category_id"], "iscrowd": 0}
            info.update(area=int(segment["mask"].sum()), bbox=_bbox(segment["mask"]))
            segments_info.append(info)
            if (
                segment["category_id"] in _CONTIGUOUS
                and SHAPES_CATEGORIES[_CONTIGUOUS[segment["category_id"]]]["isthing"]
            ):
                instances.append(_instance_annotation(segment["mask"], info, image_id, len(instances) + 1))
        _write_png(os.path.join(out_dir, "sem_seg", stem + ".png"), semantic)
        images.append(
            {"id": image_id, "file_name": stem + ".png", "height": spec.image_size, "width": spec.image_size}
        )
        pan_annotations.append(
            {"image_id": image_id, "file_name": stem + ".png", "segments_info": segments_info}
        )
    _dump_json(os.path.join(out_dir, "panoptic.json"), images, pan_annotations, SHAPES_CATEGORIES)
    _dump_json(os.path.join(out_dir, "instances.json"), images, instances, _THINGS)


def _instance_annotation(mask: np.ndarray, info: dict, image_id: int, ann_id: int) -> dict:
    """COCO instance annotation; odd ids and multi-part masks use RLE, the others polygons."""
    polygons = bitmask_to_polygons(mask) if ann_id % 2 == 0 else []
    segmentation = polygons if len(polygons) == 1 else bitmask_to_rle(mask)
    annotation = {"id": ann_id, "image_id": image_id, "category_id": info["category_id"], "iscrowd": 0}
    annotation.update(segmentation=segmentation, area=info["area"], bbox=info["bbox"])
    return annotation


def _dump_json(path: str, images: list, annotations: list, categories: list) -> None:
    with open(path, "w") as f:  # json.dumps runs the C encoder; json.dump would not
        f.write(json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def write_shapes_dataset(target: str, spec: ShapesSpec) -> None:
    """Writes both splits of ``spec`` and the generator version into the folder ``target``."""
    for split in ("train", "val"):
        generate_shapes_split(os.path.join(target, split), split, spec)
    with open(os.path.join(target, _VERSION_FILE), "w") as f:
        f.write(f"{GENERATOR_VERSION}\n")


def _check_version(target: str) -> None:
    path = os.path.join(target, _VERSION_FILE)
    found = f"1 (no {_VERSION_FILE} file)"
    if os.path.isfile(path):
        with open(path) as f:
            found = f.read().strip()
    if found != str(GENERATOR_VERSION):
        raise RuntimeError(
            f"'{target}' was written by shapes generator version {found}, but this code renders "
            f"version {GENERATOR_VERSION} (other images and colours). Delete the folder; it is "
            f"generated again on the next run."
        )


def ensure_shapes_dataset(root: str, spec: ShapesSpec = ShapesSpec()) -> str:
    """Generates ``<root>/<spec.dirname>`` unless it exists; returns its path.

    Generation goes into a temporary folder next to the target that is renamed into place, so a
    reader never sees a half-written dataset and processes racing to generate it are safe (the
    loser of the rename discards its copy).

    Raises:
        RuntimeError: the folder exists but was written by another generator version.
    """
    target = os.path.join(root, spec.dirname)
    if os.path.isdir(target):
        _check_version(target)
        return target
    os.makedirs(root, exist_ok=True)
    logger.info("Generating the synthetic shapes dataset into %s (%s).", target, spec)
    tmp = tempfile.mkdtemp(prefix=f".{spec.dirname}.tmp", dir=root)
    try:
        write_shapes_dataset(tmp, spec)
        try:
            os.rename(tmp, target)
        except OSError:
            if not os.path.isdir(target):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return target
