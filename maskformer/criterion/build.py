"""``build_criterion``: the criterion a trainer hands to the meta-architecture."""

from __future__ import annotations

from .set_criterion import SetCriterion

__all__ = ["build_criterion"]


def build_criterion(cfg) -> SetCriterion:
    """Builds the ``SetCriterion`` described by ``cfg``.

    Reads ``MODEL.SEM_SEG_HEAD.NUM_CLASSES`` and ``MODEL.MASK_FORMER.{CLASS_WEIGHT, MASK_WEIGHT,
    DICE_WEIGHT, NO_OBJECT_WEIGHT, DEEP_SUPERVISION, DEC_LAYERS, TRAIN_NUM_POINTS, OVERSAMPLE_RATIO,
    IMPORTANCE_SAMPLE_RATIO, MASK_LOSS, MATCHER, FOCAL_ALPHA, FOCAL_GAMMA}``. Auxiliary layers get
    weights ``loss_*_i`` for ``i < DEC_LAYERS - 1`` when ``DEEP_SUPERVISION`` is on (MaskFormer:
    6 layers = 5 auxiliary + final; Mask2Former: 10 predictions = 9 auxiliary + final).

    Args:
        cfg: the full config.

    Returns:
        The criterion (an ``nn.Module`` with the ``empty_weight`` buffer).
    """
    return SetCriterion(cfg)
