"""Bipartite matching between predicted masks and ground-truth segments.

A matcher maps the predictions of one decoder layer and the targets of a batch to, per image, a
pair ``(pred_idx, tgt_idx)`` of int64 tensors of equal length: prediction ``pred_idx[k]`` is
matched to target ``tgt_idx[k]``. Unmatched predictions are trained towards "no object".

Matchers are registered in ``MATCHER_REGISTRY`` and chosen by ``MODEL.MASK_FORMER.MATCHER``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from ..config import configurable
from ..registry import Registry
from .box_losses import pairwise_box_costs, target_boxes
from .losses import MaskLoss, build_mask_loss, pairwise_dice_loss
from .point_sampling import point_sample, random_point_coords

__all__ = ["MATCHER_REGISTRY", "BoxHungarianMatcher", "FixedMatcher", "HungarianMatcher", "build_matcher"]

MATCHER_REGISTRY = Registry("MATCHER")
MATCHER_REGISTRY.__doc__ = "Prediction <-> target matchers, chosen by MODEL.MASK_FORMER.MATCHER."

Indices = list[tuple[torch.Tensor, torch.Tensor]]


@MATCHER_REGISTRY.register()
class HungarianMatcher(nn.Module):
    """Optimal one-to-one assignment (Hungarian algorithm) under a class + mask + dice cost.

    For one image with Q predictions and N targets the cost matrix is ``[Q, N]``::

        C = cost_class * (-softmax(logits)[q, label_n])
          + cost_mask  * mask_loss.pairwise(mask_q, target_n)
          + cost_dice  * pairwise_dice_loss(mask_q, target_n)

    computed on full masks (``num_points == 0``; targets resized with nearest neighbour to the
    prediction resolution, as in MaskFormer) or on ``num_points`` points drawn uniformly per
    image, the same points for every prediction and target (Mask2Former). It is solved with
    ``scipy.optimize.linear_sum_assignment`` in fp32 with autocast disabled and without grad.

    Args:
        cost_class: weight of the classification cost.
        cost_mask: weight of the mask (BCE or focal) cost.
        cost_dice: weight of the dice cost.
        num_points: points per image for the mask costs; 0 = full masks.
        mask_loss: ``"sigmoid_ce"``, ``"sigmoid_focal"`` or a ``MaskLoss`` instance.
    """

    @configurable
    def __init__(
        self,
        cost_class: float = 1.0,
        cost_mask: float = 1.0,
        cost_dice: float = 1.0,
        num_points: int = 0,
        mask_loss: str | MaskLoss = "sigmoid_ce",
    ) -> None:
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError(
                "All matching costs are 0 (MODEL.MASK_FORMER.CLASS_WEIGHT / MASK_WEIGHT / DICE_WEIGHT); "
                "set at least one of them > 0."
            )
        if num_points < 0:
            raise ValueError(
                f"num_points (MODEL.MASK_FORMER.TRAIN_NUM_POINTS) must be >= 0, got {num_points}."
            )
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points
        self.mask_loss = build_mask_loss(mask_loss)

    @classmethod
    def from_config(cls, cfg) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        return {
            "cost_class": mf.CLASS_WEIGHT,
            "cost_mask": mf.MASK_WEIGHT,
            "cost_dice": mf.DICE_WEIGHT,
            "num_points": mf.TRAIN_NUM_POINTS if mf.MATCHING_ON_POINTS else 0,
            "mask_loss": build_mask_loss(mf.MASK_LOSS, cfg),
        }

    def cost_matrix(
        self,
        logits: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        tgt_masks: torch.Tensor,
        point_coords: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The matching cost of one image.

        Args:
            logits: ``[Q, K+1]`` class logits.
            masks: ``[Q, h, w]`` mask logits.
            labels: ``[N]`` int64 target classes.
            tgt_masks: ``[N, H, W]`` binary target masks (any size).
            point_coords: ``[P, 2]`` points in ``[0, 1]`` for the mask costs, or None for full
                masks.

        Returns:
            ``[Q, N]`` float32 cost matrix.
        """
        logits, masks, tgt_masks = logits.float(), masks.float(), tgt_masks.float()
        cost_class = -logits.softmax(-1)[:, labels]  # [Q, N]
        if point_coords is None:
            # MaskFormer: targets go to the prediction resolution, then every pixel counts.
            tgt_masks = F.interpolate(tgt_masks[:, None], size=masks.shape[-2:], mode="nearest")[:, 0]
            out_flat, tgt_flat = masks.flatten(1), tgt_masks.flatten(1)
        else:
            coords = point_coords[None].to(masks)
            out_flat = point_sample(masks[:, None], coords.expand(len(masks), -1, -1)).squeeze(1)
            tgt_flat = point_sample(tgt_masks[:, None], coords.expand(len(tgt_masks), -1, -1)).squeeze(1)
        cost_mask = self.mask_loss.pairwise(out_flat, tgt_flat)
        cost_dice = pairwise_dice_loss(out_flat, tgt_flat)
        return self.cost_class * cost_class + self.cost_mask * cost_mask + self.cost_dice * cost_dice

    @torch.no_grad()
    def forward(
        self,
        outputs: dict[str, torch.Tensor],
        targets: list[dict[str, torch.Tensor]],
        generator: torch.Generator | None = None,
        point_coords: list[torch.Tensor] | None = None,
    ) -> Indices:
        """Matches every image of the batch.

        Args:
            outputs: ``{"pred_logits": [B, Q, K+1], "pred_masks": [B, Q, h, w]}`` (other keys
                ignored).
            targets: per image ``{"labels": int64 [N], "masks": bool/float [N, H, W]}``.
            generator: random generator for the uniform points (None: global RNG, drawing one
                ``[1, P, 2]`` tensor per image like the official code).
            point_coords: optional explicit points per image, ``[P, 2]`` each (overrides the
                random draw; used by parity tests).

        Returns:
            Per image ``(pred_idx, tgt_idx)``, int64 CPU tensors sorted by ``pred_idx``.
        """
        pred_logits, pred_masks = outputs["pred_logits"], outputs["pred_masks"]
        device = pred_logits.device
        indices = []
        with torch.autocast(device_type=device.type, enabled=False):
            for b, target in enumerate(targets):
                coords = None
                if point_coords is not None:
                    coords = point_coords[b]
                elif self.num_points > 0:
                    coords = random_point_coords(1, self.num_points, device, generator)[0]
                labels, tgt_masks = target["labels"].to(device), target["masks"].to(device)
                if len(labels) == 0:
                    empty = torch.zeros(0, dtype=torch.int64)
                    indices.append((empty, empty.clone()))
                    continue
                cost = self.cost_matrix(pred_logits[b], pred_masks[b], labels, tgt_masks, coords)
                indices.append(_solve(cost.cpu()))
        return indices

    def extra_repr(self) -> str:
        return (
            f"cost_class={self.cost_class}, cost_mask={self.cost_mask}, cost_dice={self.cost_dice}, "
            f"num_points={self.num_points}, mask_loss={self.mask_loss}"
        )


def _solve(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost assignment of a ``[Q, N]`` matrix (scipy), as int64 tensors."""
    if not torch.isfinite(cost).all():
        raise FloatingPointError(
            "The matching cost contains NaN or inf: the predictions have diverged "
            "(lower the learning rate or enable gradient clipping, SOLVER.CLIP_GRADIENTS)."
        )
    rows, cols = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


@MATCHER_REGISTRY.register()
class FixedMatcher(nn.Module):
    """Fixed matching for the paper's ablation: query ``i`` predicts class ``i`` (N = K).

    Each target of class ``c`` is matched to query ``c``; every class may therefore appear at
    most once per image (semantic segmentation targets: one mask per class present).
    """

    @configurable
    def __init__(self) -> None:
        super().__init__()

    @classmethod
    def from_config(cls, cfg) -> dict:
        return {}

    @torch.no_grad()
    def forward(
        self,
        outputs: dict[str, torch.Tensor],
        targets: list[dict[str, torch.Tensor]],
        generator: torch.Generator | None = None,
    ) -> Indices:
        """Same contract as ``HungarianMatcher.forward``; ``generator`` is unused."""
        num_queries = outputs["pred_logits"].shape[1]
        indices = []
        for target in targets:
            labels = target["labels"].cpu().to(torch.int64)
            if len(labels) and int(labels.max()) >= num_queries:
                raise ValueError(
                    f"FixedMatcher needs one query per class, but a target has class {int(labels.max())} and "
                    f"there are {num_queries} queries: set MODEL.MASK_FORMER.NUM_OBJECT_QUERIES to "
                    "MODEL.SEM_SEG_HEAD.NUM_CLASSES."
                )
            if len(labels.unique()) != len(labels):
                raise ValueError(
                    "FixedMatcher needs at most one target per class and image (semantic targets); "
                    f"got classes {labels.tolist()}. Use MODEL.MASK_FORMER.MATCHER 'HungarianMatcher'."
                )
            pred_idx, order = labels.sort()
            indices.append((pred_idx, order))
        return indices


@MATCHER_REGISTRY.register()
class BoxHungarianMatcher(nn.Module):
    """DETR's matching by boxes (MaskFormer Table 5, "by box"): class + L1 + GIoU costs.

    ``C = cost_class * (-softmax(logits)[q, label_n]) + cost_bbox * |b_q - b_n|_1
    + cost_giou * (-GIoU(b_q, b_n))`` with normalised ``(cx, cy, w, h)`` boxes; the target boxes
    are the tight boxes of the target masks. Needs ``pred_boxes`` (``MODEL.MASK_FORMER.BOX_HEAD``).

    Args:
        cost_class: weight of the classification cost.
        cost_bbox: weight of the L1 box cost (DETR: 5).
        cost_giou: weight of the GIoU cost (DETR: 2).
    """

    @configurable
    def __init__(self, cost_class: float = 1.0, cost_bbox: float = 5.0, cost_giou: float = 2.0) -> None:
        super().__init__()
        self.cost_class, self.cost_bbox, self.cost_giou = cost_class, cost_bbox, cost_giou

    @classmethod
    def from_config(cls, cfg) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        if not mf.BOX_HEAD:
            raise ValueError(
                "MODEL.MASK_FORMER.MATCHER='BoxHungarianMatcher' matches by predicted boxes: set "
                "MODEL.MASK_FORMER.BOX_HEAD True."
            )
        return {"cost_class": mf.CLASS_WEIGHT, "cost_bbox": mf.BOX_L1_WEIGHT, "cost_giou": mf.BOX_GIOU_WEIGHT}

    @torch.no_grad()
    def forward(
        self, outputs: dict[str, torch.Tensor], targets: list[dict[str, torch.Tensor]], generator=None
    ) -> Indices:
        """Same contract as ``HungarianMatcher.forward``; needs ``outputs["pred_boxes"]`` ``[B, Q, 4]``."""
        indices = []
        with torch.autocast(device_type=outputs["pred_logits"].device.type, enabled=False):
            for b, target in enumerate(targets):
                labels = target["labels"]
                if len(labels) == 0:
                    empty = torch.zeros(0, dtype=torch.int64)
                    indices.append((empty, empty.clone()))
                    continue
                logits, boxes = outputs["pred_logits"][b].float(), outputs["pred_boxes"][b].float()
                l1, giou = pairwise_box_costs(boxes, target_boxes(target["masks"]).to(boxes))
                cost_class = -logits.softmax(-1)[:, labels.to(logits.device)]
                cost = self.cost_class * cost_class + self.cost_bbox * l1 - self.cost_giou * giou
                indices.append(_solve(cost.cpu()))
        return indices


def build_matcher(cfg) -> nn.Module:
    """Builds the matcher named by ``MODEL.MASK_FORMER.MATCHER``."""
    name = cfg.MODEL.MASK_FORMER.MATCHER
    try:
        matcher_cls = MATCHER_REGISTRY.get(name)
    except KeyError as err:
        raise KeyError(f"MODEL.MASK_FORMER.MATCHER = {name!r} is not a known matcher. {err}") from None
    return matcher_cls(cfg)
