"""What every segmentation meta-architecture shares: backbone, head and criterion, pixel
normalisation and batch padding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from maskformer.structures import ImageList

from ..backbone import Backbone, build_backbone
from ..heads import build_sem_seg_head

__all__ = ["SegmentationModel"]


class SegmentationModel(nn.Module):
    """Holds backbone, head and criterion; turns the mapper's uint8 images into a normalised,
    padded batch.

    As in DETR, the model computes predictions and the criterion (built by
    :func:`maskformer.criterion.build_criterion` and handed in by ``build_model``) turns them and
    the targets into the loss dict.

    Args:
        backbone: the backbone.
        sem_seg_head: the head, backbone features -> predictions.
        criterion: ``(predictions, targets) -> {loss name: weighted scalar}``; None builds a model
            for inference only.
        pixel_mean: per-channel mean in the input's channel order (``MODEL.PIXEL_MEAN``).
        pixel_std: per-channel std (``MODEL.PIXEL_STD``).
        size_divisibility: pad the batch to a multiple of this. 0 pads only to the batch's largest
            image; a negative value means the backbone's own ``size_divisibility`` (official
            MaskFormer / Mask2Former semantics). Backbones that need aligned inputs (Swin) pad
            internally, so 0 works with every backbone.
    """

    def __init__(
        self,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module | None,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: int = 0,
    ) -> None:
        super().__init__()
        if len(pixel_mean) != len(pixel_std):
            raise ValueError(
                f"MODEL.PIXEL_MEAN {list(pixel_mean)} and MODEL.PIXEL_STD {list(pixel_std)} differ in length."
            )
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self.criterion = criterion
        own = backbone.size_divisibility
        self.size_divisibility = own if size_divisibility < 0 else int(size_divisibility)
        # Not persistent: the official checkpoints do not store them, and the config is their source.
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False
        )
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False)

    @staticmethod
    def common_config(cfg, criterion: nn.Module | None) -> dict:
        """The ``from_config`` entries every meta-architecture shares (backbone, head, criterion,
        pixel statistics)."""
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "sem_seg_head": build_sem_seg_head(cfg, backbone.output_shape()),
            "criterion": criterion,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    def losses(self, predictions: dict, targets) -> dict[str, torch.Tensor]:
        """The criterion's weighted loss dict.

        Raises:
            RuntimeError: for a model built without a criterion.
        """
        if self.criterion is None:
            raise RuntimeError(
                f"{type(self).__name__} was built without a criterion (inference only); build it with "
                "build_model(cfg) to train it."
            )
        return self.criterion(predictions, targets)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict]) -> ImageList:
        """Normalises ``x["image"]`` (uint8 ``[3, H, W]``) and pads them into one batch.

        Returns:
            ImageList with ``tensor`` ``[B, 3, Hpad, Wpad]`` (padding is 0 after normalisation) and
            the unpadded ``image_sizes``.
        """
        images = []
        for x in batched_inputs:
            image = x["image"].to(self.device, non_blocking=True)
            if image.dim() != 3 or image.shape[0] != self.pixel_mean.shape[0]:
                raise ValueError(
                    f"Expected x['image'] of shape [{self.pixel_mean.shape[0]}, H, W] (the length of "
                    f"MODEL.PIXEL_MEAN), got {tuple(image.shape)} for {x.get('file_name', 'an input')}."
                )
            images.append((image - self.pixel_mean) / self.pixel_std)
        return ImageList.from_tensors(images, self.size_divisibility)

    def image_sizes_out(self, batched_inputs: list[dict], images: ImageList) -> list[tuple[int, int]]:
        """The size each result must have: the input's ``height``/``width``, else the image's size."""
        return [
            (int(x.get("height", size[0])), int(x.get("width", size[1])))
            for x, size in zip(batched_inputs, images.image_sizes)
        ]
