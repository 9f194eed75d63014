"""Drawing a model's results: the task's picture of one result, and the test images after a run."""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np
import torch
from torch import nn

from maskformer.config import CfgNode
from maskformer.data import ClassInfo, MetadataCatalog, build_test_loader
from maskformer.data.image_io import read_image
from maskformer.utils.visualizer import draw_instances, draw_panoptic_seg, draw_sem_seg, side_by_side

__all__ = ["TASKS", "prediction_task", "save_prediction_visualizations", "visualize_prediction"]

logger = logging.getLogger(__name__)

# Task -> the result key it draws, in the order a task is chosen when none is forced.
TASKS = {"panoptic": "panoptic_seg", "instance": "instances", "semantic": "sem_seg"}


def prediction_task(result: dict, task: str | None = None) -> str:
    """The task to draw: ``task`` if given (checked), else panoptic, instance or semantic, the first
    the result holds."""
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"Unknown task {task!r}; choose one of {list(TASKS)}.")
        if TASKS[task] not in result:
            raise ValueError(
                f"The model produced no '{TASKS[task]}' for task {task!r} (it gives {sorted(result)}); "
                f"turn on MODEL.MASK_FORMER.TEST.{task.upper()}_ON or choose another task."
            )
        return task
    for name, key in TASKS.items():
        if key in result:
            return name
    raise ValueError(f"A result holds none of {list(TASKS.values())}: {sorted(result)}.")


def visualize_prediction(
    image_rgb: np.ndarray,
    result: dict,
    classes: ClassInfo,
    task: str | None = None,
    score_thresh: float = 0.5,
    with_input: bool = False,
) -> np.ndarray:
    """Draws one image's result (see :func:`prediction_task` for which).

    Args:
        image_rgb: ``[H, W, 3]`` uint8 RGB at the original size.
        result: one result dict of the model (``sem_seg`` / ``panoptic_seg`` / ``instances``).
        classes: names and colours of the classes.
        task: "panoptic", "instance" or "semantic"; None chooses by what ``result`` holds.
        score_thresh: instances scoring below this are not drawn.
        with_input: put the input on the left of the drawing.

    Returns:
        ``[H', W', 3]`` uint8 RGB, at least ``MIN_DISPLAY_SIZE`` on its long side.
    """
    names, colors = classes.names, classes.colors
    task = prediction_task(result, task)
    if task == "panoptic":
        panoptic_seg, segments_info = result["panoptic_seg"]
        drawing = draw_panoptic_seg(image_rgb, panoptic_seg.cpu().numpy(), segments_info, names, colors)
    elif task == "instance":
        inst = result["instances"].to("cpu")
        keep = inst.scores >= score_thresh
        drawing = draw_instances(
            image_rgb,
            inst.pred_masks[keep].numpy(),
            inst.pred_classes[keep].tolist(),
            inst.scores[keep].tolist(),
            names,
            colors,
        )
    else:
        drawing = draw_sem_seg(image_rgb, result["sem_seg"].argmax(dim=0).cpu().numpy(), names, colors)
    return side_by_side(image_rgb, drawing) if with_input else drawing


def _tensorboard_writer(log_dir: str):
    """A TensorBoard writer for the images, or None (with a warning) without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        logger.warning(f"{e}: prediction images are written to visualizations/ only.")
        return None
    return SummaryWriter(log_dir, filename_suffix=".visualizations")


@torch.no_grad()
def save_prediction_visualizations(
    cfg: CfgNode,
    model: nn.Module,
    num_images: int | None = None,
    dataset_name: str | None = None,
    iteration: int = 0,
) -> list[str]:
    """Draws the model's results on the first test images, to PNG files and TensorBoard.

    Files go to ``OUTPUT_DIR/visualizations/<dataset>_<image_id>.png`` (input | prediction);
    the same pictures go to TensorBoard in ``OUTPUT_DIR`` under ``predictions/<dataset>_<image_id>``
    at step ``iteration``.

    Args:
        cfg: the config.
        model: the model (switched to eval mode for the call, then restored).
        num_images: how many (default ``TEST.NUM_VISUALIZATIONS``; 0 draws nothing).
        dataset_name: default ``DATASETS.TEST[0]``.
        iteration: the TensorBoard step.

    Returns:
        The written PNG paths.
    """
    count = cfg.TEST.NUM_VISUALIZATIONS if num_images is None else num_images
    if count <= 0 or not (dataset_name or cfg.DATASETS.TEST):
        return []
    dataset_name = dataset_name or cfg.DATASETS.TEST[0]
    classes = ClassInfo.from_metadata(MetadataCatalog.get(dataset_name))
    out_dir = os.path.join(cfg.OUTPUT_DIR, "visualizations")
    os.makedirs(out_dir, exist_ok=True)
    writer = _tensorboard_writer(cfg.OUTPUT_DIR)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    was_training = model.training
    model.eval()
    paths = []
    for inputs in build_test_loader(cfg, dataset_name):
        if len(paths) >= count:
            break
        image = read_image(inputs[0]["file_name"], "RGB")
        panel = visualize_prediction(image, model(inputs)[0], classes, with_input=True)
        name = f"{dataset_name}_{inputs[0]['image_id']}"
        paths.append(os.path.join(out_dir, f"{name}.png"))
        cv2.imwrite(paths[-1], cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        if writer is not None:
            writer.add_image(f"predictions/{name}", panel, iteration, dataformats="HWC")
    if writer is not None:
        writer.close()
    model.train(was_training)
    return paths
