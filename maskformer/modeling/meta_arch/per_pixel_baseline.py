"""``SemanticSegmentor``: the meta-architecture of the per-pixel baselines (official config name)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.inference import sem_seg_postprocess

from ..backbone import Backbone
from .base import SegmentationModel
from .build import META_ARCH_REGISTRY

__all__ = ["SemanticSegmentor"]


@META_ARCH_REGISTRY.register()
class SemanticSegmentor(SegmentationModel):
    """Backbone -> per-pixel head (``PerPixelBaselineHead`` / ``PerPixelBaselinePlusHead``).

    Training returns the criterion's per-pixel cross-entropy losses (``PerPixelCrossEntropy``);
    inference returns ``{"sem_seg": [K, H, W] logits}`` per image at its original size.

    Args:
        backbone: the backbone.
        sem_seg_head: a head with ``forward(features) -> {"sem_seg_logits", "aux_sem_seg_logits"}``
            and a ``common_stride`` attribute (the logits' stride).
        criterion: ``(outputs, int64 [B, H, W] labels) -> loss dict``; None for inference only.
        pixel_mean: per-channel mean.
        pixel_std: per-channel std.
        size_divisibility: batch padding multiple (see ``SegmentationModel``); the default -1, which
            ``from_config`` keeps, is the backbone's own (0 for ResNet, 32 for Swin), as in
            Detectron2's ``SemanticSegmentor``: ``MODEL.MASK_FORMER.SIZE_DIVISIBILITY`` is not read.
        ignore_value: label of unlabelled pixels, also used to pad the targets.
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
        size_divisibility: int = -1,
        ignore_value: int = 255,
    ) -> None:
        super().__init__(backbone, sem_seg_head, criterion, pixel_mean, pixel_std, size_divisibility)
        self.ignore_value = ignore_value

    @classmethod
    def from_config(cls, cfg, criterion: nn.Module | None = None) -> dict:
        return {**cls.common_config(cfg, criterion), "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE}

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        """Training: ``{"loss_sem_seg", ...}`` from ``x["sem_seg"]``; inference: ``[{"sem_seg"}]``.

        Inputs, loss dict and results follow :mod:`maskformer.modeling.contract`.
        """
        images = self.preprocess_image(batched_inputs)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        stride = self.sem_seg_head.common_stride
        if self.training:
            size = tuple(stride * n for n in outputs["sem_seg_logits"].shape[-2:])
            return self.losses(outputs, self.prepare_targets(batched_inputs, size))
        # As Detectron2's per-pixel heads: upsample by the stride, then crop the valid region.
        logits = F.interpolate(
            outputs["sem_seg_logits"], scale_factor=stride, mode="bilinear", align_corners=False
        )
        out_sizes = self.image_sizes_out(batched_inputs, images)
        return [
            {"sem_seg": sem_seg_postprocess(r, size, *out_size)}
            for r, size, out_size in zip(logits, images.image_sizes, out_sizes)
        ]

    def prepare_targets(self, batched_inputs: list[dict], size: tuple[int, int]) -> torch.Tensor:
        """int64 ``[B, H, W]`` labels padded at the bottom/right with ``ignore_value`` to ``size``.

        ``size`` is that of the upsampled logits (stride x logits size): the padded batch's size
        when it is a multiple of the stride, a few pixels more otherwise (ResNet rounds odd sizes
        up; without padding, ``size_divisibility`` 0, that happens).
        """
        if any("sem_seg" not in x for x in batched_inputs):
            raise KeyError(
                "SemanticSegmentor training needs x['sem_seg'] in every input; use a semantic mapper "
                "(INPUT.DATASET_MAPPER_NAME: mask_former_semantic)."
            )
        height, width = size
        labels = [x["sem_seg"].to(self.device) for x in batched_inputs]
        if any(t.shape[-2] > height or t.shape[-1] > width for t in labels):
            raise ValueError(
                f"The head's logits ({height}x{width} after upsampling) do not cover the labels "
                f"{[tuple(t.shape) for t in labels]}: the backbone's res2 must be ceil(input / stride)."
            )
        pads = [(0, width - t.shape[-1], 0, height - t.shape[-2]) for t in labels]
        return torch.stack([F.pad(t, pad, value=self.ignore_value) for t, pad in zip(labels, pads)])
