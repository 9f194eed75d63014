"""``SetCriterion``: matching + classification and mask losses for every decoder layer.

The criterion matches the predictions of each decoder layer to the targets (``matcher``), then
computes

- ``loss_ce``: cross-entropy over K+1 classes for all queries, unmatched queries labelled
  "no object" (class K) whose weight is ``eos_coef`` (buffer ``empty_weight``, as in the official
  state dict);
- ``loss_mask`` and ``loss_dice`` on the matched pairs: on full masks (predictions upsampled to
  the target size, MaskFormer) or on ``num_points`` points per mask chosen by uncertainty-based
  importance sampling (Mask2Former);

- ``loss_bbox`` and ``loss_giou`` on the matched pairs when the decoder predicts boxes (DETR's L1
  and GIoU losses against the masks' tight boxes; MaskFormer Table 5's matching by box);

normalised by the number of target masks in the batch (averaged over processes, clamped >= 1).
Auxiliary layers (``outputs["aux_outputs"][i]``) give ``loss_ce_i``, ... (deep supervision).
Every returned loss is already multiplied by its weight; a loss whose key is absent from
``weight_dict`` is not returned (layers without any weighted key are not even matched).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import configurable
from ..utils import comm
from .box_losses import box_losses, target_boxes
from .build import CRITERION_REGISTRY, build_matcher
from .losses import MaskLoss, build_mask_loss, dice_loss
from .matcher_base import Indices, Matcher
from .point_sampling import (
    calculate_uncertainty,
    check_num_points,
    get_uncertain_point_coords_with_randomness,
    point_sample,
)

__all__ = ["SetCriterion", "make_weight_dict"]

_LOSS_KEYS = {
    "labels": ("loss_ce",),
    "masks": ("loss_mask", "loss_dice"),
    "boxes": ("loss_bbox", "loss_giou"),
}


def make_weight_dict(
    class_weight: float,
    mask_weight: float,
    dice_weight: float,
    deep_supervision: bool = True,
    num_aux_layers: int = 0,
    box_weights: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Loss weights keyed by loss name, with ``_i`` copies for the auxiliary layers.

    Args:
        class_weight: weight of ``loss_ce``.
        mask_weight: weight of ``loss_mask``.
        dice_weight: weight of ``loss_dice``.
        deep_supervision: whether auxiliary layers are supervised.
        num_aux_layers: number of auxiliary predictions (``DEC_LAYERS - 1`` for both MaskFormer
            and Mask2Former configs).
        box_weights: weights of ``loss_bbox`` and ``loss_giou`` (models with a box head), or None.

    Returns:
        ``{"loss_ce": w, "loss_mask": w, "loss_dice": w, "loss_ce_0": w, ...}``.
    """
    base = {"loss_ce": class_weight, "loss_mask": mask_weight, "loss_dice": dice_weight}
    if box_weights is not None:
        base.update(loss_bbox=box_weights[0], loss_giou=box_weights[1])
    weights = dict(base)
    if deep_supervision:
        for i in range(num_aux_layers):
            weights.update({f"{k}_{i}": v for k, v in base.items()})
    return weights


@CRITERION_REGISTRY.register()
class SetCriterion(nn.Module):
    """Losses of MaskFormer / Mask2Former over all decoder layers.

    Args:
        num_classes: K, the number of classes (without "no object").
        matcher: a :class:`~maskformer.criterion.matcher_base.Matcher`: ``(outputs, targets,
            generator)`` -> per-image ``(pred_idx, tgt_idx)``.
        weight_dict: loss name (``loss_ce``, ``loss_mask_3``, ...) -> weight.
        eos_coef: classification weight of the "no object" class.
        losses: which losses to compute, among ``"labels"``, ``"masks"`` and ``"boxes"``.
        num_points: points per mask for the mask losses; 0 = full masks.
        oversample_ratio: candidate points per kept point for importance sampling.
        importance_sample_ratio: fraction of points chosen by uncertainty.
        mask_loss: ``"sigmoid_ce"``, ``"sigmoid_focal"`` or a ``MaskLoss`` instance.
    """

    @configurable
    def __init__(
        self,
        *,
        num_classes: int,
        matcher: Matcher,
        weight_dict: dict[str, float],
        eos_coef: float,
        losses: Sequence[str] = ("labels", "masks"),
        num_points: int = 0,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        mask_loss: str | MaskLoss = "sigmoid_ce",
    ) -> None:
        super().__init__()
        unknown = [name for name in losses if name not in _LOSS_KEYS]
        if unknown:
            raise ValueError(f"Unknown losses {unknown}; choose among {sorted(_LOSS_KEYS)}.")
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.eos_coef = eos_coef
        self.losses = list(losses)
        self.num_points = check_num_points(num_points)
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.mask_loss = build_mask_loss(mask_loss)
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight)

    @classmethod
    def from_config(cls, cfg) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        box_weights = (mf.BOX_L1_WEIGHT, mf.BOX_GIOU_WEIGHT) if mf.BOX_HEAD else None
        weight_dict = make_weight_dict(
            mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.DEEP_SUPERVISION, mf.DEC_LAYERS - 1,
            box_weights,
        )  # fmt: skip
        return {
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "matcher": build_matcher(cfg),
            "weight_dict": weight_dict,
            "eos_coef": mf.NO_OBJECT_WEIGHT,
            "losses": ("labels", "masks", "boxes") if mf.BOX_HEAD else ("labels", "masks"),
            "num_points": mf.TRAIN_NUM_POINTS if mf.LOSS_ON_POINTS else 0,
            "oversample_ratio": mf.OVERSAMPLE_RATIO,
            "importance_sample_ratio": mf.IMPORTANCE_SAMPLE_RATIO,
            "mask_loss": build_mask_loss(mf.MASK_LOSS, cfg),
        }

    def loss_labels(
        self, outputs: dict, targets: list[dict], indices: Indices, num_masks: float, generator=None
    ) -> dict[str, torch.Tensor]:
        """Weighted cross-entropy over K+1 classes, ``{"loss_ce": scalar}``."""
        logits = outputs["pred_logits"].float()  # [B, Q, K+1]
        batch_idx, src_idx = _src_permutation(indices)
        target_classes = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device
        )
        matched = [t["labels"][j] for t, (_, j) in zip(targets, indices)]
        target_classes[batch_idx, src_idx] = torch.cat(matched).to(logits.device)
        # cross_entropy wants the class dimension second: [B, Q, K+1] -> [B, K+1, Q]
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)
        return {"loss_ce": loss_ce}

    def loss_boxes(
        self, outputs: dict, targets: list[dict], indices: Indices, num_masks: float, generator=None
    ) -> dict[str, torch.Tensor]:
        """L1 and GIoU losses of the matched boxes, ``{"loss_bbox", "loss_giou"}``."""
        batch_idx, src_idx = _src_permutation(indices)
        pred = outputs["pred_boxes"][batch_idx, src_idx].float()  # [M, 4]
        if len(pred) == 0:
            zero = outputs["pred_boxes"].sum() * 0.0
            return {"loss_bbox": zero, "loss_giou": zero.clone()}
        target = torch.cat(
            [target_boxes(t["masks"][tgt.to(t["masks"].device)]) for t, (_, tgt) in zip(targets, indices)]
        ).to(pred)
        return box_losses(pred, target, num_masks)

    def loss_masks(
        self, outputs: dict, targets: list[dict], indices: Indices, num_masks: float, generator=None
    ) -> dict[str, torch.Tensor]:
        """Mask loss and dice loss of the matched pairs, ``{"loss_mask", "loss_dice"}``."""
        pred_masks = outputs["pred_masks"]
        batch_idx, src_idx = _src_permutation(indices)
        with torch.autocast(device_type=pred_masks.device.type, enabled=False):
            src_masks = pred_masks[batch_idx, src_idx].float()  # [M, h, w]
            tgt_masks = _matched_target_masks(targets, indices, src_masks.device)  # [M, H, W]
            if len(src_masks) == 0:
                # No target in the batch: zero losses that still reach the mask head's parameters.
                zero = pred_masks.sum() * 0.0
                return {"loss_mask": zero, "loss_dice": zero.clone()}
            if self.num_points > 0:
                logits, labels = self._sample_points(src_masks, tgt_masks, generator)
            else:
                # MaskFormer: predictions are upsampled to the (padded) target resolution.
                up = F.interpolate(
                    src_masks[:, None], size=tgt_masks.shape[-2:], mode="bilinear", align_corners=False
                )
                logits, labels = up[:, 0].flatten(1), tgt_masks.flatten(1)
            return {
                "loss_mask": self.mask_loss.loss(logits, labels, num_masks),
                "loss_dice": dice_loss(logits, labels, num_masks),
            }

    def _sample_points(
        self, src_masks: torch.Tensor, tgt_masks: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[M, P]`` and targets ``[M, P]`` at importance-sampled points."""
        with torch.no_grad():
            # The points are chosen, not learned: no gradient through the selection.
            coords = get_uncertain_point_coords_with_randomness(
                src_masks[:, None],
                calculate_uncertainty,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
                generator=generator,
            )
            labels = point_sample(tgt_masks[:, None], coords).squeeze(1)
        logits = point_sample(src_masks[:, None], coords).squeeze(1)
        return logits, labels

    def num_target_masks(self, targets: list[dict], device: torch.device) -> float:
        """Number of target masks per process, averaged over processes and clamped >= 1."""
        count = torch.as_tensor([float(sum(len(t["labels"]) for t in targets))], device=device)
        count = comm.all_reduce_sum(count) / comm.get_world_size()
        return torch.clamp(count, min=1).item()

    def forward(
        self,
        outputs: dict,
        targets: list[dict[str, torch.Tensor]],
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Weighted losses of the final and auxiliary predictions.

        Args:
            outputs: ``{"pred_logits": [B, Q, K+1], "pred_masks": [B, Q, h, w],
                "aux_outputs": [{"pred_logits", "pred_masks"}, ...]}``.
            targets: per image ``{"labels": int64 [N], "masks": bool/float [N, H, W]}``.
            generator: optional random generator for all point sampling (matcher and losses).

        Returns:
            ``{"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", ...}``, each multiplied by its
            weight.
        """
        self._check_labels(targets)
        num_masks = self.num_target_masks(targets, outputs["pred_logits"].device)
        layers = [("", outputs)] + [(f"_{i}", aux) for i, aux in enumerate(outputs.get("aux_outputs", []))]
        loss_fns = {"labels": self.loss_labels, "masks": self.loss_masks, "boxes": self.loss_boxes}
        result = {}
        for suffix, layer_outputs in layers:
            wanted = [
                name for name in self.losses if any(k + suffix in self.weight_dict for k in _LOSS_KEYS[name])
            ]
            if not wanted:
                continue
            indices = self.matcher(layer_outputs, targets, generator=generator)
            for name in wanted:
                for key, value in loss_fns[name](
                    layer_outputs, targets, indices, num_masks, generator
                ).items():
                    if key + suffix in self.weight_dict:
                        result[key + suffix] = value * self.weight_dict[key + suffix]
        return result

    def _check_labels(self, targets: list[dict[str, torch.Tensor]]) -> None:
        """Class ids outside ``[0, num_classes)`` would index out of range (a device assert on GPU).

        Raises:
            ValueError: naming the ids and MODEL.SEM_SEG_HEAD.NUM_CLASSES.
        """
        labels = [t["labels"].reshape(-1) for t in targets if t["labels"].numel()]
        if not labels:
            return
        ids = torch.cat([x.to("cpu") for x in labels])
        bad = ids[(ids < 0) | (ids >= self.num_classes)]
        if bad.numel():
            raise ValueError(
                f"Target class ids {sorted(set(bad.tolist()))[:10]} are outside [0, {self.num_classes}): "
                f"MODEL.SEM_SEG_HEAD.NUM_CLASSES is {self.num_classes}, smaller than the dataset's class "
                "count. Set it to the number of classes of the training set (python -m "
                "maskformer.data.validation --config-file ... checks it)."
            )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, eos_coef={self.eos_coef}, losses={self.losses}, "
            f"num_points={self.num_points}, oversample_ratio={self.oversample_ratio}, "
            f"importance_sample_ratio={self.importance_sample_ratio}, mask_loss={self.mask_loss}, "
            f"weight_dict={self.weight_dict}"
        )


def _src_permutation(indices: Indices) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattens per-image prediction indices into ``(batch_idx [M], query_idx [M])``."""
    batch_idx = torch.cat([torch.full_like(src, b) for b, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    return batch_idx, src_idx


def _matched_target_masks(targets: list[dict], indices: Indices, device: torch.device) -> torch.Tensor:
    """Matched target masks of the batch as float ``[M, H, W]``, zero-padded to a common size.

    The meta-architecture already pads every target to the padded image size; padding again to
    the largest size keeps the criterion usable with unpadded targets of different sizes.
    """
    height = max(t["masks"].shape[-2] for t in targets)
    width = max(t["masks"].shape[-1] for t in targets)
    matched = []
    for t, (_, tgt_idx) in zip(targets, indices):
        masks = t["masks"][tgt_idx.to(t["masks"].device)].to(device=device, dtype=torch.float32)
        matched.append(F.pad(masks, (0, width - masks.shape[-1], 0, height - masks.shape[-2])))
    return torch.cat(matched)
