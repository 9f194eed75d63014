"""Writes PNG overlays of a model's predictions on a few test images (the demo's eye check)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
from torch import nn

from maskformer.config import CfgNode
from maskformer.utils.visualizer import draw_instances, draw_panoptic_seg, draw_sem_seg

__all__ = ["save_prediction_visualizations", "visualize_prediction"]


def visualize_prediction(
    image_rgb: np.ndarray, output: dict, class_names: list[str], score_thresh: float = 0.5
) -> np.ndarray:
    """Draws one image's result: panoptic if present, else instances, else semantic.

    Args:
        image_rgb: ``[H, W, 3]`` uint8 RGB at the original size.
        output: one result dict of the model (see DESIGN.md section 3).
        class_names: contiguous id -> name.
        score_thresh: instances below this score are not drawn.

    Returns:
        ``[H, W, 3]`` uint8 RGB.
    """
    if "panoptic_seg" in output:
        panoptic_seg, segments_info = output["panoptic_seg"]
        return draw_panoptic_seg(image_rgb, panoptic_seg.cpu().numpy(), segments_info, class_names)
    if "instances" in output:
        inst = output["instances"].to("cpu")
        keep = inst.scores >= score_thresh
        return draw_instances(
            image_rgb,
            inst.pred_masks[keep].numpy(),
            inst.pred_classes[keep].tolist(),
            inst.scores[keep].tolist(),
            class_names,
        )
    sem_seg = output["sem_seg"].argmax(dim=0).cpu().numpy()
    return draw_sem_seg(image_rgb, sem_seg, class_names)


def _class_names(metadata) -> list[str]:
    """Contiguous id -> name: stuff_classes covers all classes when set (panoptic/semantic)."""
    names = getattr(metadata, "stuff_classes", None) or getattr(metadata, "thing_classes", None)
    if not names:
        raise ValueError(f"Dataset '{metadata.name}' has neither stuff_classes nor thing_classes metadata.")
    return list(names)


@torch.no_grad()
def save_prediction_visualizations(
    cfg: CfgNode, model: nn.Module, num_images: int = 4, dataset_name: str | None = None
) -> list[str]:
    """Runs ``model`` on the first ``num_images`` test images and writes side-by-side PNGs.

    Files go to ``OUTPUT_DIR/visualizations/<dataset>_<image_id>.png``: the input on the left,
    the prediction overlay on the right.

    Returns:
        The written paths.
    """
    from maskformer.data import MetadataCatalog, build_test_loader

    dataset_name = dataset_name or cfg.DATASETS.TEST[0]
    class_names = _class_names(MetadataCatalog.get(dataset_name))
    out_dir = os.path.join(cfg.OUTPUT_DIR, "visualizations")
    os.makedirs(out_dir, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    was_training = model.training
    model.eval()
    paths = []
    for inputs in build_test_loader(cfg, dataset_name):
        if len(paths) >= num_images:
            break
        output = model(inputs)[0]
        image = cv2.cvtColor(cv2.imread(inputs[0]["file_name"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        panel = np.concatenate([image, visualize_prediction(image, output, class_names)], axis=1)
        path = os.path.join(out_dir, f"{dataset_name}_{inputs[0]['image_id']}.png")
        cv2.imwrite(path, cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        paths.append(path)
    model.train(was_training)
    return paths
