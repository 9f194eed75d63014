"""Renders ``docs/demo.png``: the Predictor and the demo's drawing on a real photograph.

No trained weights can be downloaded here, so the network is an *oracle*: a stand-in for the
backbone and head (``Predictor(..., network=...)``, the plug point exported models use) that
returns the photograph's own PASCAL VOC annotation (``imgviz.data.voc()``) as query masks and
classes. Everything after the network is the real code: the test-time resize, normalisation and
padding, Mask2Former's panoptic post-processing and the visualizer. The picture shows what a
trained model's output looks like, not a model's accuracy.

    python scripts/render_demo_picture.py [--output docs/demo.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imgviz
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from maskformer.config import load_config
from maskformer.data import build_mapper
from maskformer.engine import Predictor
from maskformer.engine.visualize import visualize_prediction

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "shapes" / "panoptic-segmentation" / "maskformer2_R18_shapes.yaml"


class AnnotationNetwork:
    """Returns fixed segments as Mask2Former outputs for the one image they annotate.

    Args:
        masks: ``[N, H, W]`` bool segments of the original image.
        classes: ``N`` contiguous class ids.
        num_classes: K (the logits get K + 1 entries, the last one "no object").
        resized: ``(h, w)`` of the image after the test-time resize (inside the padding).
    """

    def __init__(self, masks: np.ndarray, classes: list[int], num_classes: int, resized: tuple[int, int]):
        self.masks = torch.from_numpy(masks).float()[None]  # [1, N, H, W]
        self.logits = torch.full((1, len(classes), num_classes + 1), -10.0)
        self.logits[0, torch.arange(len(classes)), torch.tensor(classes)] = 10.0
        self.resized = resized

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` ``[1, 3, Hpad, Wpad]`` -> logits ``[1, N, K+1]``, masks ``[1, N, Hpad/4, Wpad/4]``."""
        h, w = self.resized
        masks = F.interpolate(self.masks, size=(h, w), mode="bilinear", align_corners=False)
        masks = F.pad(masks, (0, images.shape[-1] - w, 0, images.shape[-2] - h))
        masks = F.avg_pool2d(masks, 4)  # the decoder predicts at stride 4
        return self.logits, (masks - 0.5) * 20.0  # mask logits: +-10 inside / outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO / "docs" / "demo.png"))
    args = parser.parse_args()
    voc = imgviz.data.voc()
    names = list(voc["class_names"])
    colors = imgviz.label_colormap()[: len(names)].tolist()
    colors[0] = [90, 140, 190]  # VOC's background is black; a visible stuff colour reads better
    segment_masks = np.concatenate([voc["class_label"][None] == 0, np.asarray(voc["masks"], bool)])
    segment_classes = [0, *map(int, voc["labels"])]
    sizes = ["INPUT.MIN_SIZE_TEST", 384, "INPUT.MAX_SIZE_TEST", 640]
    opts = ["MODEL.SEM_SEG_HEAD.NUM_CLASSES", len(names), *sizes, "MODEL.DEVICE", "cpu"]
    cfg = load_config(str(CONFIG), opts, freeze=False)
    resized = tuple(build_mapper(cfg, is_train=False).map_image({}, voc["rgb"])["image"].shape[-2:])
    network = AnnotationNetwork(segment_masks, segment_classes, len(names), resized)
    things = range(1, len(names))  # background is stuff, the 20 object classes are things
    predictor = Predictor(cfg, class_names=names, thing_ids=things, colors=colors, network=network)
    result = predictor(voc["rgb"], format="RGB")
    picture = visualize_prediction(voc["rgb"], result, predictor.classes, with_input=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    palette = Image.fromarray(picture).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    palette.save(args.output, optimize=True)  # a small file for the README
    print(f"wrote {args.output}: {len(result['panoptic_seg'][1])} segments")


if __name__ == "__main__":
    main()
