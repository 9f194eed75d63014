"""Criterion: the losses of every meta-architecture (set criterion, per-pixel cross-entropy),
matchers, mask losses and point sampling."""

from .build import CRITERION_REGISTRY, MATCHER_REGISTRY, build_criterion, build_matcher
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
from .matcher import BoxHungarianMatcher, FixedMatcher, HungarianMatcher
from .matcher_base import Indices, Matcher, solve_assignments
from .per_pixel import PerPixelCrossEntropy, per_pixel_cross_entropy
from .point_sampling import (
    calculate_uncertainty,
    get_uncertain_point_coords_with_randomness,
    point_sample,
    random_point_coords,
)
from .set_criterion import SetCriterion, make_weight_dict

__all__ = [
    "CRITERION_REGISTRY",
    "MASK_LOSS_REGISTRY",
    "MATCHER_REGISTRY",
    "BoxHungarianMatcher",
    "FixedMatcher",
    "HungarianMatcher",
    "Indices",
    "MaskLoss",
    "Matcher",
    "PerPixelCrossEntropy",
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
    "per_pixel_cross_entropy",
    "point_sample",
    "random_point_coords",
    "sigmoid_ce_loss",
    "sigmoid_focal_loss",
    "solve_assignments",
]
