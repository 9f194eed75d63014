"""``SemanticSegmentor``: the meta-architecture of the per-pixel baselines (official config name)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import configurable
from maskformer.inference import sem_seg_postprocess
from maskformer.structures import ImageList

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
        size_divisibility: minimum batch padding multiple.
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
        size_divisibility: int = 0,
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
            "size_divisibility": cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
        }

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        """Training: ``{"loss_sem_seg", ...}`` from ``x["sem_seg"]``; inference: ``[{"sem_seg"}]``."""
        images = self.preprocess_image(batched_inputs)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        if self.training:
            return self.sem_seg_head.losses(outputs, self.prepare_targets(batched_inputs, images))
        logits = F.interpolate(
            outputs["sem_seg_logits"], size=images.tensor.shape[-2:], mode="bilinear", align_corners=False
        )
        out_sizes = self.image_sizes_out(batched_inputs, images)
        return [
            {"sem_seg": sem_seg_postprocess(r, size, *out_size)}
            for r, size, out_size in zip(logits, images.image_sizes, out_sizes)
        ]

    def prepare_targets(self, batched_inputs: list[dict], images: ImageList) -> torch.Tensor:
        """int64 ``[B, Hpad, Wpad]`` labels, padded with ``ignore_value`` like the images."""
        if any("sem_seg" not in x for x in batched_inputs):
            raise KeyError(
                "SemanticSegmentor training needs x['sem_seg'] in every input; use a semantic mapper "
                "(INPUT.DATASET_MAPPER_NAME: mask_former_semantic)."
            )
        labels = [x["sem_seg"].to(self.device) for x in batched_inputs]
        padded = ImageList.from_tensors(labels, self.size_divisibility, pad_value=self.ignore_value).tensor
        pad_h, pad_w = images.tensor.shape[-2:]
        return F.pad(
            padded, (0, pad_w - padded.shape[-1], 0, pad_h - padded.shape[-2]), value=self.ignore_value
        )
