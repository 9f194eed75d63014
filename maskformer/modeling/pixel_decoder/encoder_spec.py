"""``EncoderSpec``: the hyper-parameters of a pixel decoder's transformer encoder."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EncoderSpec"]


@dataclass(frozen=True)
class EncoderSpec:
    """What sizes the transformer encoder of ``TransformerEncoderPixelDecoder`` and
    ``MSDeformAttnPixelDecoder``.

    Attributes:
        nheads: attention heads (``MODEL.MASK_FORMER.NHEADS``).
        num_layers: encoder layers (``MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS``).
        dim_feedforward: FFN hidden width.
        dropout: dropout rate (``MODEL.MASK_FORMER.DROPOUT``).
    """

    nheads: int
    num_layers: int
    dim_feedforward: int
    dropout: float = 0.0

    @classmethod
    def from_config(cls, cfg, dim_feedforward: int) -> EncoderSpec:
        """The spec the config gives, with the FFN width the decoder chooses.

        Args:
            cfg: the config.
            dim_feedforward: FFN hidden width (a config key for one decoder, fixed for the other).
        """
        return cls(
            nheads=cfg.MODEL.MASK_FORMER.NHEADS,
            num_layers=cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS,
            dim_feedforward=dim_feedforward,
            dropout=cfg.MODEL.MASK_FORMER.DROPOUT,
        )
