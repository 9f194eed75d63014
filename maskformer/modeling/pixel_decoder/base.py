"""The pixel decoder contract: :class:`PixelDecoder`, its output and its declared output shapes.

Every decoder in ``PIXEL_DECODER_REGISTRY`` derives from :class:`PixelDecoder`. The heads run it
through ``forward`` (so hooks and FLOP counters see it) and size what they put on top of it from
``output_shape()`` (as a backbone's ``output_shape()`` sizes the pixel decoder), never from the config.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from maskformer.structures import ShapeSpec

__all__ = ["PixelDecoder", "PixelDecoderOutput", "PixelDecoderShape", "finest_first"]


def finest_first(input_shape: dict[str, ShapeSpec]) -> tuple[list[str], list[int], list[int]]:
    """Names, strides and channels of the backbone features a decoder reads, by increasing stride."""
    ordered = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
    return [name for name, _ in ordered], [s.stride for _, s in ordered], [s.channels for _, s in ordered]


class PixelDecoderOutput(NamedTuple):
    """What a pixel decoder returns; unpacks as ``mask_features, encoder_features, multi_scale``.

    Shapes are for an input image ``[B, 3, H, W]``; channels and strides are those of the
    decoder's :meth:`PixelDecoder.output_shape`.

    Attributes:
        mask_features: the per-pixel embeddings ``[B, C_mask, H/s, W/s]`` (s = 4 for every
            decoder here).
        encoder_features: the transformer encoder's output ``[B, C_enc, H/s_enc, W/s_enc]`` (its
            coarsest level), or None for a decoder without an encoder.
        multi_scale_features: the maps a multi-scale transformer decoder attends to, each
            ``[B, C, H/s_l, W/s_l]``, lowest resolution first.
    """

    mask_features: torch.Tensor
    encoder_features: torch.Tensor | None
    multi_scale_features: list[torch.Tensor]


@dataclass(frozen=True)
class PixelDecoderShape:
    """Channels and strides of a :class:`PixelDecoderOutput`, field by field.

    Attributes:
        mask_features: channels (``mask_dim``) and stride of ``mask_features``.
        encoder_features: channels and stride of ``encoder_features``; None when it is None.
        multi_scale_features: channels and stride of each multi-scale map, lowest resolution
            first; one width for all (the transformer decoders project every level alike).
    """

    mask_features: ShapeSpec
    encoder_features: ShapeSpec | None
    multi_scale_features: tuple[ShapeSpec, ...]

    def __post_init__(self) -> None:
        widths = {spec.channels for spec in self.multi_scale_features}
        if len(widths) != 1:
            raise ValueError(
                f"A pixel decoder's multi-scale maps must be one or more maps of one width; its "
                f"output_shape() declares {list(self.multi_scale_features)}. Project them to one width."
            )

    @property
    def mask_dim(self) -> int:
        """Width of the per-pixel embeddings."""
        return self.mask_features.channels

    @property
    def conv_dim(self) -> int:
        """Width of every multi-scale map."""
        return self.multi_scale_features[0].channels


class PixelDecoder(nn.Module, ABC):
    """Base class of the pixel decoders: backbone features -> per-pixel embeddings + multi-scale maps.

    A registered subclass is built as ``cls(cfg, input_shape)`` (``input_shape``: the backbone's
    ``output_shape()``) and implements :meth:`forward` and :meth:`output_shape`.
    """

    @abstractmethod
    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        """Decodes the backbone maps.

        Args:
            features: backbone maps by name, e.g. ``{"res2": [B, C2, H/4, W/4], ...}``.

        Returns:
            The maps described by :meth:`output_shape`.
        """

    @abstractmethod
    def output_shape(self) -> PixelDecoderShape:
        """Channels and strides of what :meth:`forward` returns (known once the decoder is built)."""
