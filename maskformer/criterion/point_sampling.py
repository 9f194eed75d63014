"""Point sampling shared by the matcher and the criterion (PointRend-style).

Points are ``(x, y)`` in ``[0, 1] x [0, 1]`` normalised image coordinates, ``(0, 0)`` being the
top-left corner of the top-left pixel; values are read by bilinear ``grid_sample``
(``align_corners=False``), so the same points index the same image locations in a 1/4-resolution
prediction and a full-resolution target.

Random draws use ``torch.rand`` with the shapes and in the order of the official code, so that
with the same seed (and no ``generator``) the sampled points coincide with the official and the
HF implementations; pass a ``torch.Generator`` to make the sampling independent of the global
random state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "calculate_uncertainty",
    "check_num_points",
    "get_uncertain_point_coords_with_randomness",
    "point_sample",
    "random_point_coords",
]


def check_num_points(num_points: int) -> int:
    """Returns ``num_points`` (points per mask; 0 = full masks) after checking it is not negative.

    Raises:
        ValueError: naming ``MODEL.MASK_FORMER.TRAIN_NUM_POINTS``.
    """
    if num_points < 0:
        raise ValueError(f"num_points (MODEL.MASK_FORMER.TRAIN_NUM_POINTS) must be >= 0, got {num_points}.")
    return num_points


def point_sample(
    input: torch.Tensor, point_coords: torch.Tensor, align_corners: bool = False
) -> torch.Tensor:
    """Bilinearly reads ``input`` at normalised points.

    Args:
        input: ``[N, C, H, W]`` feature maps.
        point_coords: ``[N, P, 2]`` (or ``[N, Hg, Wg, 2]``) ``(x, y)`` points in ``[0, 1]``.
        align_corners: passed to ``F.grid_sample``.

    Returns:
        ``[N, C, P]`` (or ``[N, C, Hg, Wg]``) sampled values; points outside the map read zeros.
    """
    add_dim = point_coords.dim() == 3
    if add_dim:
        point_coords = point_coords.unsqueeze(2)  # [N, P, 2] -> [N, P, 1, 2]
    output = F.grid_sample(input, 2.0 * point_coords - 1.0, align_corners=align_corners)
    if add_dim:
        output = output.squeeze(3)  # [N, C, P, 1] -> [N, C, P]
    return output


def random_point_coords(
    num_masks: int,
    num_points: int,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Uniform random points, ``[num_masks, num_points, 2]`` in ``[0, 1)``."""
    return torch.rand(num_masks, num_points, 2, device=device, generator=generator)


def calculate_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty of a binary logit: ``-|logit|`` (highest at the decision boundary)."""
    return -torch.abs(logits)


def get_uncertain_point_coords_with_randomness(
    coarse_logits: torch.Tensor,
    uncertainty_func: Callable[[torch.Tensor], torch.Tensor],
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Importance sampling of points near the mask boundary, plus uniform points (PointRend).

    Draws ``int(num_points * oversample_ratio)`` uniform candidates per mask, keeps the
    ``int(importance_sample_ratio * num_points)`` most uncertain of them, and fills the rest with
    fresh uniform points.

    Args:
        coarse_logits: ``[N, 1, H, W]`` mask logits.
        uncertainty_func: maps sampled logits ``[N, 1, P]`` to uncertainties ``[N, 1, P]``.
        num_points: points per mask to return.
        oversample_ratio: candidates per returned point (>= 1).
        importance_sample_ratio: fraction of points chosen by uncertainty (in ``[0, 1]``).
        generator: optional random generator for the uniform draws.

    Returns:
        ``[N, num_points, 2]`` points in ``[0, 1]``; the uncertain ones come first (in no
        particular order among themselves).
    """
    if oversample_ratio < 1:
        raise ValueError(
            f"oversample_ratio must be >= 1 (MODEL.MASK_FORMER.OVERSAMPLE_RATIO), got {oversample_ratio}."
        )
    if not 0 <= importance_sample_ratio <= 1:
        raise ValueError(
            "importance_sample_ratio must be in [0, 1] (MODEL.MASK_FORMER.IMPORTANCE_SAMPLE_RATIO), "
            f"got {importance_sample_ratio}."
        )
    num_masks = coarse_logits.shape[0]
    device = coarse_logits.device
    num_sampled = int(num_points * oversample_ratio)
    candidates = random_point_coords(num_masks, num_sampled, device, generator)
    uncertainties = uncertainty_func(point_sample(coarse_logits, candidates, align_corners=False))
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    # The most uncertain candidates as a set: their order only changes the rounding of the losses'
    # sums over points, and leaving them unsorted halves the cost of the slowest step here.
    idx = torch.topk(uncertainties[:, 0, :], k=num_uncertain, dim=1, sorted=False).indices  # [N, k]
    point_coords = torch.gather(candidates, 1, idx[..., None].expand(-1, -1, 2))
    if num_random > 0:
        extra = random_point_coords(num_masks, num_random, device, generator)
        point_coords = torch.cat([point_coords, extra], dim=1)
    return point_coords
