"""``SemanticSegmentor``: the meta-architecture of the per-pixel baselines (official config name)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.inference import sem_seg_postprocess

from ..backbone import Backbone, build_backbone
from ..heads import build_sem_seg_head
from .base import SegmentationModel
from .build import META_ARCH_REGISTRY

__all__ = ["SemanticSegmentor"]


@META_ARCH_REGISTRY.register()
class SemanticSegmentor(SegmentationModel):
    """Backbone -> per-pixel head (``PerPixelBaselineHead`` / ``PerPixelBaselinePlusHead``).

    Training returns the head's per-pixel cross-entropy losses; inference returns
    ``{"sem_seg": [K, H, W] logits}`` per image at its original size.

    Args:
        backbone: the backbone.
        sem_seg_head: a head with ``forward(features) -> {"sem_seg_logits", "aux_sem_seg_logits"}``
            and ``losses(outputs, targets)``.
        pixel_mean: per-channel mean.
        pixel_std: per-channel std.
        size_divisibility: batch padding multiple (see ``SegmentationModel``); the default -1, which
            ``from_config`` keeps, is the backbone's own (0 for ResNet, 32 for Swin), as in
            Detectron2's ``SemanticSegmentor``: ``MODEL.MASK_FORMER.SIZE_DIVISIBILITY`` is not read.
        ignore_value: label of unlabelled pixels, also used to pad the targets.
    """

    needs_criterion = False

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: int = -1,
        ignore_value: int = 255,
    ) -> None:
        super().__init__(backbone, pixel_mean, pixel_std, size_divisibility)
        self.sem_seg_head = sem_seg_head
        self.ignore_value = ignore_value

    @classmethod
    def from_config(
        cls, cfg, criterion: nn.Module | None = None, thing_ids: Collection[int] | None = None
    ) -> dict:
        # criterion and thing_ids keep build_model uniform; a per-pixel model needs neither.
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "sem_seg_head": build_sem_seg_head(cfg, backbone.output_shape()),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
        }

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        """Training: ``{"loss_sem_seg", ...}`` from ``x["sem_seg"]``; inference: ``[{"sem_seg"}]``."""
        images = self.preprocess_image(batched_inputs)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        stride = self.sem_seg_head.common_stride
        if self.training:
            size = tuple(stride * n for n in outputs["sem_seg_logits"].shape[-2:])
            return self.sem_seg_head.losses(outputs, self.prepare_targets(batched_inputs, size))
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
