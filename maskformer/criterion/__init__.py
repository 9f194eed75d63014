"""Criterion: matcher, mask losses, point sampling and the set criterion."""

from .build import build_criterion
from .losses import (
    MASK_LOSS_REGISTRY,
    MaskLoss,
    SigmoidCELoss,
    SigmoidFocalLoss,
    build_mask_loss,
    dice_loss,
    pairwise_dice_loss,
    pairwise_sigmoid_ce_loss,
    pairwise_sigmoid_focal_loss,
    sigmoid_ce_loss,
    sigmoid_focal_loss,
)
from .matcher import MATCHER_REGISTRY, FixedMatcher, HungarianMatcher, build_matcher
from .point_sampling import (
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    point_sample,
    random_point_coords,
)
from .set_criterion import SetCriterion, make_weight_dict

__all__ = [
    "MASK_LOSS_REGISTRY",
    "MATCHER_REGISTRY",
    "FixedMatcher",
    "HungarianMatcher",
    "MaskLoss",
    "SetCriterion",
    "SigmoidCELoss",
    "SigmoidFocalLoss",
    "build_criterion",
    "build_mask_loss",
    "build_matcher",
    "calculate_uncertainty",
    "dice_loss",
    "get_uncertain_point_coords_with_randomness",
    "make_weight_dict",
    "pairwise_dice_loss",
    "pairwise_sigmoid_ce_loss",
    "pairwise_sigmoid_focal_loss",
    "point_sample",
    "random_point_coords",
    "sigmoid_ce_loss",
    "sigmoid_focal_loss",
]
