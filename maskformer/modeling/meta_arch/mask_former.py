"""``MaskFormer``: the mask-classification meta-architecture (MaskFormer and Mask2Former)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn

from maskformer.config import configurable
from maskformer.inference import (
    detr_panoptic_inference,
    instance_pairs,
    instances_of_masks,
    instances_of_pairs,
    kept_queries,
    panoptic_inference,
    positive_masks,
    resize_bilinear,
    sem_seg_postprocess,
    semantic_inference,
    sigmoid_is_shareable,
    upsample_masks,
)
from maskformer.structures import ImageList

from ..backbone import Backbone
from .base import SegmentationModel
from .build import META_ARCH_REGISTRY

__all__ = ["MaskFormer"]

# The transformer decoder is what tells the two official model families apart here: configs with
# one of these are MaskFormer (v1) models, all others Mask2Former models (see `panoptic_clip_to_mask`).
MASKFORMER_V1_DECODERS = frozenset({"StandardTransformerDecoder"})
# ``MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE``: the papers' procedure, or DETR's (MaskFormer Table 3).
PANOPTIC_PROCEDURES = ("mask_former", "detr")


def _checked_thing_ids(thing_ids: Collection[int] | None, num_classes: int, panoptic_on: bool) -> list[int]:
    """The sorted thing ids (``[]`` for None), after checking panoptic inference has them.

    Raises:
        ValueError: when panoptic inference is on without thing ids, or an id is not a class.
    """
    if thing_ids is None and panoptic_on:
        raise ValueError(
            "Panoptic inference (MODEL.MASK_FORMER.TEST.PANOPTIC_ON) needs the thing classes, and "
            "none of the config's DATASETS.TEST / DATASETS.TRAIN is registered with them (instance "
            "inference alone keeps every class, as officially). Register the datasets "
            "(maskformer.data.register_builtin_datasets() or "
            "register_*), or pass them: build_model(cfg, thing_ids=[...]) / "
            "Predictor(cfg, class_names=[...], thing_ids=[...])."
        )
    ids = [] if thing_ids is None else sorted(thing_ids)
    if any(not 0 <= i < num_classes for i in ids):
        raise ValueError(
            f"thing_ids {ids} must lie in [0, {num_classes}) "
            f"(MODEL.SEM_SEG_HEAD.NUM_CLASSES = {num_classes})."
        )
    return ids


@META_ARCH_REGISTRY.register()
class MaskFormer(SegmentationModel):
    """Backbone -> pixel decoder -> transformer decoder -> (class, mask) per query.

    Training returns the criterion's (already weighted) loss dict; inference returns, per image,
    ``sem_seg`` / ``panoptic_seg`` / ``instances`` at the input's original size.

    Args:
        backbone: the backbone.
        sem_seg_head: a head returning ``{"pred_logits", "pred_masks", "aux_outputs"}``.
        criterion: ``(outputs, targets) -> loss dict`` (``SetCriterion``); None for inference only.
        pixel_mean: per-channel mean.
        pixel_std: per-channel std.
        size_divisibility: batch padding multiple; 0 = none, negative = the backbone's own.
        thing_ids: contiguous ids of the thing classes; required (not None) when panoptic
            inference is on (it also restricts instances to things then).
        num_classes: K.
        semantic_on: return ``sem_seg``.
        panoptic_on: return ``panoptic_seg``.
        instance_on: return ``instances``.
        object_mask_threshold: panoptic query score threshold.
        overlap_threshold: panoptic visible-fraction threshold.
        panoptic_clip_to_mask: Mask2Former's panoptic rule (a segment keeps only the won pixels
            where its mask >= 0.5); False gives MaskFormer's (every won pixel). ``from_config``
            sets False for the MaskFormer decoders (``MASKFORMER_V1_DECODERS``).
        sem_seg_postprocess_before_inference: resize the mask logits to the output size first and
            run every inference there (True), or combine the semantic scores at the input size and
            resize them (False). As in the official code, panoptic or instance inference forces
            True, so the semantic result is then also computed from the resized logits.
        test_topk_per_image: instance top-k over queries x classes.
        instance_score_thresh: drop instances scoring below this.
        panoptic_procedure: ``"mask_former"`` (the papers' panoptic inference) or ``"detr"``
            (DETR's post-processing, MaskFormer Table 3's "MaskFormer (DETR)" row).
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module | None,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: int,
        thing_ids: Collection[int] | None,
        num_classes: int,
        semantic_on: bool = True,
        panoptic_on: bool = False,
        instance_on: bool = False,
        object_mask_threshold: float = 0.8,
        overlap_threshold: float = 0.8,
        panoptic_clip_to_mask: bool = True,
        sem_seg_postprocess_before_inference: bool = False,
        test_topk_per_image: int = 100,
        instance_score_thresh: float = 0.0,
        panoptic_procedure: str = "mask_former",
    ) -> None:
        super().__init__(backbone, sem_seg_head, criterion, pixel_mean, pixel_std, size_divisibility)
        if panoptic_procedure not in PANOPTIC_PROCEDURES:
            raise ValueError(
                f"MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE={panoptic_procedure!r}: choose one of "
                f"{list(PANOPTIC_PROCEDURES)}."
            )
        self.panoptic_procedure = panoptic_procedure
        self.thing_ids = _checked_thing_ids(thing_ids, num_classes, panoptic_on)
        self.semantic_on = semantic_on
        self.panoptic_on = panoptic_on
        self.instance_on = instance_on
        self.object_mask_threshold = object_mask_threshold
        self.overlap_threshold = overlap_threshold
        self.panoptic_clip_to_mask = panoptic_clip_to_mask
        self.sem_seg_postprocess_before_inference = sem_seg_postprocess_before_inference
        self.test_topk_per_image = test_topk_per_image
        self.instance_score_thresh = instance_score_thresh

    @classmethod
    def from_config(
        cls, cfg, criterion: nn.Module | None = None, thing_ids: Collection[int] | None = None
    ) -> dict:
        mf = cfg.MODEL.MASK_FORMER
        return {
            **cls.common_config(cfg, criterion),
            "size_divisibility": mf.SIZE_DIVISIBILITY,
            "thing_ids": thing_ids,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "semantic_on": mf.TEST.SEMANTIC_ON,
            "panoptic_on": mf.TEST.PANOPTIC_ON,
            "instance_on": mf.TEST.INSTANCE_ON,
            "object_mask_threshold": mf.TEST.OBJECT_MASK_THRESHOLD,
            "overlap_threshold": mf.TEST.OVERLAP_THRESHOLD,
            "panoptic_clip_to_mask": mf.TRANSFORMER_DECODER_NAME not in MASKFORMER_V1_DECODERS,
            "sem_seg_postprocess_before_inference": mf.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE,
            "test_topk_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "instance_score_thresh": mf.TEST.INSTANCE_SCORE_THRESH,
            "panoptic_procedure": mf.TEST.PANOPTIC_PROCEDURE,
        }

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        """Runs the model on mapper outputs (``image``, ``height``, ``width``, ``instances``...).

        Inputs, loss dict and results follow :mod:`maskformer.modeling.contract`.

        Returns:
            Training: the loss dict. Inference: one result dict per image.
        """
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        outputs = self.sem_seg_head(features)
        if self.training:
            return self.losses(outputs, self.prepare_targets(batched_inputs, images))
        # Post-processing in float32 also under autocast, so results keep their dtypes.
        predictions = {k: v.float() if torch.is_tensor(v) else v for k, v in outputs.items()}
        with torch.autocast(device_type=images.tensor.device.type, enabled=False):
            return self.postprocess(predictions, batched_inputs, images)

    def prepare_targets(self, batched_inputs: list[dict], images: ImageList) -> list[dict[str, torch.Tensor]]:
        """Per image ``{"labels": [N], "masks": bool [N, Hpad, Wpad]}``, masks zero-padded like the image."""
        pad_h, pad_w = images.tensor.shape[-2:]
        targets = []
        for x in batched_inputs:
            if "instances" not in x:
                raise KeyError(
                    f"Training input {x.get('file_name', '')!r} has no 'instances'; use a training mapper "
                    "(INPUT.DATASET_MAPPER_NAME) that produces gt_classes and gt_masks."
                )
            inst = x["instances"].to(self.device)
            gt_masks = inst.gt_masks
            padded = gt_masks.new_zeros((gt_masks.shape[0], pad_h, pad_w))
            padded[:, : gt_masks.shape[1], : gt_masks.shape[2]] = gt_masks
            targets.append({"labels": inst.gt_classes, "masks": padded})
        return targets

    def postprocess(self, outputs: dict, batched_inputs: list[dict], images: ImageList) -> list[dict]:
        """Turns predictions at stride 4 into results at each image's original size."""
        padded_size = tuple(images.tensor.shape[-2:])
        out_sizes = self.image_sizes_out(batched_inputs, images)
        return [
            self._inference_single(cls_logits, masks, padded_size, size, out_size)
            for cls_logits, masks, size, out_size in zip(
                outputs["pred_logits"], outputs["pred_masks"], images.image_sizes, out_sizes
            )
        ]

    def _inference_single(
        self,
        mask_cls: torch.Tensor,
        mask_pred: torch.Tensor,
        padded_size: tuple[int, int],
        image_size: tuple[int, int],
        out_size: tuple[int, int],
    ) -> dict:
        """One image: ``mask_cls`` ``[Q, K+1]``, ``mask_pred`` ``[Q, h, w]`` at stride 4 -> result dict.

        The official order: the mask logits are resized to the padded input size, cropped and
        resized to the output size (when ``sem_seg_postprocess_before_inference`` or panoptic or
        instance inference is on), then go through the sigmoid. Full-resolution work is done once:
        only the queries an enabled inference reads are resized (all when semantic inference is
        on), and their sigmoid is computed once, in place, when sharing it gives the same values
        (``sigmoid_is_shareable``; otherwise each inference takes its own, as officially).
        """
        if not (self.semantic_on or self.panoptic_on or self.instance_on):
            return {}
        if not (self.sem_seg_postprocess_before_inference or self.panoptic_on or self.instance_on):
            # Semantic scores combined at the padded input size, then cropped and resized.
            probs = resize_bilinear(mask_pred, padded_size).sigmoid_()
            scores = semantic_inference(mask_cls, probs, mask_prob=probs)  # [K, Hpad, Wpad]
            return {"sem_seg": sem_seg_postprocess(scores, image_size, *out_size)}
        mask_cls = mask_cls.to(mask_pred)
        pairs = None
        if self.instance_on:
            pairs = instance_pairs(mask_cls, self.thing_ids, self.panoptic_on, self.test_topk_per_image)
        rows = self._queries_used(mask_cls, pairs)
        mask_cls_rows = mask_cls
        if rows is not None:
            mask_cls_rows, mask_pred = mask_cls[rows], mask_pred[rows]
            if pairs is not None:  # their queries as rows of the resized subset
                pairs = (*pairs[:2], torch.searchsorted(rows, pairs[2]))
        logits = upsample_masks(mask_pred, padded_size, image_size, out_size)  # [R, H, W]
        detr = self.panoptic_on and self.panoptic_procedure == "detr"
        only_semantic = not (self.panoptic_on or self.instance_on)
        if not detr and (only_semantic or sigmoid_is_shareable(out_size[0] * out_size[1])):
            return self._results_of_shared_sigmoid(mask_cls, mask_cls_rows, logits, pairs)
        result = {}
        if self.semantic_on:
            result["sem_seg"] = semantic_inference(mask_cls, logits)
        if self.panoptic_on:
            result["panoptic_seg"] = self._panoptic(mask_cls_rows, logits)
        if pairs is not None:
            result["instances"] = instances_of_pairs(*pairs, logits, self.instance_score_thresh)
        return result

    def _results_of_shared_sigmoid(
        self, mask_cls: torch.Tensor, mask_cls_rows: torch.Tensor, logits: torch.Tensor, pairs: tuple | None
    ) -> dict:
        """Results from one sigmoid of ``logits`` ``[R, H, W]``, computed in place.

        Instance masks (``logits > 0``) are taken first; the logits are not read afterwards.
        """
        if pairs is not None:
            distinct, slot = torch.unique(pairs[2], return_inverse=True)  # pair n: distinct[slot[n]]
            instance_rows = distinct.tolist()
            binary = positive_masks(logits, instance_rows)
        probs = logits.sigmoid_()
        result = {}
        if self.semantic_on:
            result["sem_seg"] = semantic_inference(mask_cls, probs, mask_prob=probs)
        if self.panoptic_on:
            result["panoptic_seg"] = self._panoptic(mask_cls_rows, probs, mask_prob=probs)
        if pairs is not None:
            result["instances"] = instances_of_masks(
                *pairs[:2], slot, instance_rows, binary, probs, self.instance_score_thresh
            )
        return result

    def _panoptic(
        self, mask_cls: torch.Tensor, mask_pred: torch.Tensor, mask_prob: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[dict]]:
        """Panoptic inference by the configured procedure (DETR's reads the logits ``mask_pred``)."""
        if self.panoptic_procedure == "detr":
            return detr_panoptic_inference(mask_cls, mask_pred, self.thing_ids)
        return panoptic_inference(
            mask_cls,
            mask_pred,
            self.thing_ids,
            self.object_mask_threshold,
            self.overlap_threshold,
            self.panoptic_clip_to_mask,
            mask_prob=mask_prob,
        )

    def _queries_used(self, mask_cls: torch.Tensor, pairs: tuple | None) -> torch.Tensor | None:
        """Ascending queries whose full-resolution masks the enabled inferences read; None: all."""
        if self.semantic_on or (self.panoptic_on and self.panoptic_procedure == "detr"):
            return None
        used = [] if pairs is None else [pairs[2]]
        if self.panoptic_on:
            used.append(kept_queries(mask_cls, self.object_mask_threshold)[0])
        return torch.cat(used).unique()
