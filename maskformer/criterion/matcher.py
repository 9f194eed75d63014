"""The matchers: Hungarian (class + mask + dice costs), fixed (query i <-> class i) and by box.

All follow :class:`~maskformer.criterion.matcher_base.Matcher`; they are registered in
``MATCHER_REGISTRY`` (``criterion/build.py``) and chosen by ``MODEL.MASK_FORMER.MATCHER``. The cost
matrices of a batch are computed in one go; scipy only solves each image's assignment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import configurable
from .box_losses import pairwise_box_costs, target_boxes
from .build import MATCHER_REGISTRY
from .losses import MaskLoss, build_mask_loss, pairwise_dice_loss
from .matcher_base import Indices, Matcher, Outputs, Targets, solve_assignments
from .point_sampling import check_num_points, point_sample, random_point_coords

__all__ = ["BoxHungarianMatcher", "FixedMatcher", "HungarianMatcher"]


@MATCHER_REGISTRY.register()
class HungarianMatcher(Matcher):
    """Optimal one-to-one assignment (Hungarian algorithm) under a class + mask + dice cost.

    For one image with Q predictions and N targets the cost matrix is ``[Q, N]``::

        C = cost_class * (-softmax(logits)[q, label_n])
          + cost_mask  * mask_loss.pairwise(mask_q, target_n)
          + cost_dice  * pairwise_dice_loss(mask_q, target_n)

    computed on full masks (``num_points == 0``; targets resized with nearest neighbour to the
    prediction resolution, as in MaskFormer) or on ``num_points`` points drawn uniformly per
    image, the same points for every prediction and target (Mask2Former). It is solved with
    ``scipy.optimize.linear_sum_assignment`` in fp32 without grad.

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
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = check_num_points(num_points)
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

    def match(self, outputs: Outputs, targets: Targets, generator: torch.Generator | None) -> Indices:
        """Draws ``num_points`` uniform points per image (none on full masks), then matches there.

        One ``[1, P, 2]`` draw per image, in image order, like the official code, so the same seed
        gives the same points.
        """
        points = None
        if self.num_points > 0:
            device = outputs["pred_logits"].device
            points = [random_point_coords(1, self.num_points, device, generator)[0] for _ in targets]
        return self.match_at_points(outputs, targets, points)

    @torch.no_grad()
    def match_at_points(
        self, outputs: Outputs, targets: Targets, point_coords: list[torch.Tensor] | None
    ) -> Indices:
        """Matches with given points (``[P, 2]`` per image; None = full masks), e.g. replayed ones."""
        return solve_assignments(self.cost_matrices(outputs, targets, point_coords))

    def cost_matrices(
        self, outputs: Outputs, targets: Targets, point_coords: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """The matching costs of every image, computed for the whole batch at once.

        Args:
            outputs: ``{"pred_logits": [B, Q, K+1], "pred_masks": [B, Q, h, w]}``.
            targets: per image ``{"labels": int64 [N], "masks": [N, H, W]}`` (any size).
            point_coords: per image ``[P, 2]`` points in ``[0, 1]`` for the mask costs, or None
                for full masks.

        Returns:
            Per image the float32 ``[Q, N]`` cost matrix, on the CPU.
        """
        logits, masks = outputs["pred_logits"].float(), outputs["pred_masks"].float()
        sizes = [len(t["labels"]) for t in targets]
        labels = _pad_stack([t["labels"].to(logits.device, torch.int64) for t in targets], max(sizes))
        # -p(label_n) for every query q: [B, Q, K+1] -> [B, Q, Nmax]
        cost_class = -logits.softmax(-1).gather(2, labels[:, None, :].expand(-1, logits.shape[1], -1))
        out_flat, tgt_flat = self._mask_values(masks, targets, point_coords)  # [B, Q, P], [B, Nmax, P]
        cost = (
            self.cost_class * cost_class
            + self.cost_mask * self.mask_loss.pairwise(out_flat, tgt_flat)
            + self.cost_dice * pairwise_dice_loss(out_flat, tgt_flat)
        ).cpu()
        return [c[:, :n] for c, n in zip(cost, sizes)]

    @staticmethod
    def _mask_values(
        masks: torch.Tensor, targets: Targets, point_coords: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted ``[B, Q, P]`` and target ``[B, Nmax, P]`` mask values (targets zero-padded).

        Full masks: targets go to the prediction resolution (nearest), then every pixel counts.
        Points: one bilinear read of all predictions, and one per image of its targets.
        """
        num_images, num_queries = masks.shape[:2]
        coords = None
        if point_coords is None:
            out_flat = masks.flatten(2)
        else:
            coords = torch.stack(point_coords).to(masks)  # [B, P, 2]
            per_query = coords.repeat_interleave(num_queries, 0)  # [B*Q, P, 2]
            out_flat = point_sample(masks.flatten(0, 1)[:, None], per_query).view(num_images, num_queries, -1)
        tgt_flat = [
            _target_values(t["masks"].to(masks), masks.shape[-2:], None if coords is None else coords[b])
            if len(t["masks"])
            else out_flat.new_zeros(0, out_flat.shape[-1])
            for b, t in enumerate(targets)
        ]
        return out_flat, _pad_stack(tgt_flat, max(len(t) for t in tgt_flat))

    def extra_repr(self) -> str:
        return (
            f"cost_class={self.cost_class}, cost_mask={self.cost_mask}, cost_dice={self.cost_dice}, "
            f"num_points={self.num_points}, mask_loss={self.mask_loss}"
        )


def _target_values(masks: torch.Tensor, size: tuple[int, int], coords: torch.Tensor | None) -> torch.Tensor:
    """Float ``[N, H, W]`` target masks -> ``[N, P]``: read at ``coords`` ``[P, 2]``, or every pixel
    after a nearest-neighbour resize to the prediction ``size`` (``coords`` None)."""
    if coords is None:
        return F.interpolate(masks[:, None], size=size, mode="nearest").flatten(1)
    return point_sample(masks[:, None], coords[None].expand(len(masks), -1, -1)).squeeze(1)


def _pad_stack(tensors: list[torch.Tensor], length: int) -> torch.Tensor:
    """Stacks ``[N_b, ...]`` tensors into ``[B, length, ...]``, zero-padding the first dimension."""
    padded = tensors[0].new_zeros((len(tensors), length, *tensors[0].shape[1:]))
    for b, t in enumerate(tensors):
        padded[b, : len(t)] = t
    return padded


@MATCHER_REGISTRY.register()
class FixedMatcher(Matcher):
    """Fixed matching for the paper's ablation: query ``i`` predicts class ``i`` (N = K).

    Each target of class ``c`` is matched to query ``c``; every class may therefore appear at
    most once per image (semantic segmentation targets: one mask per class present).
    """

    def match(self, outputs: Outputs, targets: Targets, generator: torch.Generator | None) -> Indices:
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
class BoxHungarianMatcher(Matcher):
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

    def match(self, outputs: Outputs, targets: Targets, generator: torch.Generator | None) -> Indices:
        """Needs ``outputs["pred_boxes"]`` ``[B, Q, 4]``; all images' costs come from one
        ``[B*Q, sum N]`` computation, of which each image keeps its own block."""
        logits, boxes = outputs["pred_logits"].float(), outputs["pred_boxes"].float()
        num_images, num_queries = logits.shape[:2]
        sizes = [len(t["labels"]) for t in targets]
        labels = torch.cat([t["labels"] for t in targets]).to(logits.device)
        tgt_boxes = torch.cat([target_boxes(t["masks"]) for t in targets]).to(boxes)
        l1, giou = pairwise_box_costs(boxes.flatten(0, 1), tgt_boxes)  # [B*Q, sum N]
        cost_class = -logits.flatten(0, 1).softmax(-1)[:, labels]
        cost = self.cost_class * cost_class + self.cost_bbox * l1 - self.cost_giou * giou
        blocks = cost.view(num_images, num_queries, -1).cpu().split(sizes, -1)
        return solve_assignments([block[b] for b, block in enumerate(blocks)])
