"""Learnable queries as region proposals (Mask2Former Sec. 4.4, Figure 3): class-agnostic AR@100 of
the mask predictions after every decoder layer.

Layer 0 is the prediction made from the learnable queries before the first decoder layer; layer
``L`` the final one. Every query's mask (logits > 0 at the original image size, as the instance
inference binarises) is a proposal scored by its objectness ``1 - p(no object)``; pycocotools'
``COCOeval`` with ``useCats = 0`` gives the recall averaged over IoU 0.50:0.95 with at most 100
proposals per image (``AR@100``, area "all"), against the dataset's instance annotations.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
import torch.nn.functional as F
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn

from ..data.datasets.coco_instance_checks import load_coco_api
from ..inference.postprocess import sem_seg_postprocess
from ..utils import comm
from .evaluator import DatasetEvaluator

__all__ = ["QueryProposalRecall", "class_agnostic_recall", "proposals_of_layer", "record_head_outputs"]

# The stride of the mask predictions with respect to the (padded) network input.
MASK_STRIDE = 4


@contextlib.contextmanager
def record_head_outputs(model: nn.Module) -> Iterator[list[dict]]:
    """Keeps the head's raw outputs (``pred_logits``, ``pred_masks``, ``aux_outputs``) of every
    forward of ``model`` in the yielded list, newest last."""
    outputs: list[dict] = []
    handle = model.sem_seg_head.register_forward_hook(lambda module, args, out: outputs.append(out))
    try:
        yield outputs
    finally:
        handle.remove()


def proposals_of_layer(
    logits: torch.Tensor, masks: torch.Tensor, image_size: tuple[int, int], height: int, width: int
) -> tuple[np.ndarray, list[dict]]:
    """One image's proposals from one layer's prediction.

    Args:
        logits: ``[Q, K+1]`` class logits (the last entry is "no object").
        masks: ``[Q, h, w]`` mask logits at stride 4 of the padded input.
        image_size: ``(h, w)`` of the resized image inside the padding.
        height: original image height.
        width: original image width.

    Returns:
        Objectness ``[Q]`` and the COCO RLEs of the binarised masks at ``(height, width)``.
    """
    objectness = 1.0 - logits.float().softmax(-1)[:, -1]
    padded = F.interpolate(
        masks[None].float(), scale_factor=MASK_STRIDE, mode="bilinear", align_corners=False
    )[0]
    binary = sem_seg_postprocess(padded, image_size, height, width) > 0
    rles = mask_util.encode(np.asfortranarray(binary.permute(1, 2, 0).cpu().numpy().astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("utf-8")
    return objectness.cpu().numpy(), rles


def class_agnostic_recall(coco_gt: COCO, results: list[dict], max_dets: int = 100) -> float:
    """``AR@max_dets`` (percent, IoU 0.50:0.95, area "all") of class-agnostic mask results.

    Args:
        coco_gt: instance ground truth; crowd annotations are ignored as COCOeval does.
        results: ``[{"image_id", "score", "segmentation"}]``.
        max_dets: proposals kept per image, best scores first.

    Returns:
        The average recall, or NaN without ground truth.
    """
    gt = copy.deepcopy(coco_gt.dataset)
    for ann in gt["annotations"]:
        ann["category_id"] = 1
    gt["categories"] = [{"id": 1, "name": "object"}]
    with contextlib.redirect_stdout(io.StringIO()):
        agnostic = COCO()
        agnostic.dataset = gt
        agnostic.createIndex()
        if not results:
            return 0.0
        detections = agnostic.loadRes([dict(r, category_id=1) for r in results])
        evaluation = COCOeval(agnostic, detections, "segm")
        evaluation.params.useCats = 0
        evaluation.params.maxDets = [1, 10, max_dets]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    recall = evaluation.stats[8]  # AR, IoU 0.50:0.95, area all, maxDets[2]
    return float(recall * 100) if recall >= 0 else float("nan")


class QueryProposalRecall(DatasetEvaluator):
    """Class-agnostic AR@100 of every decoder layer's predictions, fed by :func:`record_head_outputs`.

    Args:
        json_file: the dataset's COCO instance annotations (metadata ``json_file``).
        head_outputs: the list :func:`record_head_outputs` fills while the model runs.
    """

    def __init__(self, json_file: str, head_outputs: list[dict]) -> None:
        self._json_file = json_file
        self._head_outputs = head_outputs
        self.reset()

    def reset(self) -> None:
        self._results: dict[int, list[dict]] = {}

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Turns the last head output (this batch) into proposals, layer by layer."""
        head = self._head_outputs.pop()
        layers = [*head["aux_outputs"], head]
        for b, inp in enumerate(inputs):
            image_size = tuple(inp["image"].shape[-2:])
            for layer, pred in enumerate(layers):
                logits, masks = pred["pred_logits"][b], pred["pred_masks"][b]
                scores, rles = proposals_of_layer(logits, masks, image_size, inp["height"], inp["width"])
                self._results.setdefault(layer, []).extend(
                    {"image_id": inp["image_id"], "score": float(s), "segmentation": r}
                    for s, r in zip(scores, rles)
                )

    def evaluate(self) -> dict[str, Any]:
        """``{"proposals": {"AR@100-layer0": ..., "AR@100-layer<L>": ...}}`` on the main process."""
        parts = comm.gather(self._results)
        if not comm.is_main_process():
            return {}
        merged: dict[int, list[dict]] = {}
        for part in parts:
            for layer, results in part.items():
                merged.setdefault(layer, []).extend(results)
        coco_gt = load_coco_api(self._json_file)
        recalls = {
            f"AR@100-layer{layer}": class_agnostic_recall(coco_gt, merged[layer]) for layer in sorted(merged)
        }
        return {"proposals": recalls}
