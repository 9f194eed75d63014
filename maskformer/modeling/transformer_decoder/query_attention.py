"""How Mask2Former's queries read the image features: the cross-attention variants of Table 4c.

Each variant turns the previous layer's mask prediction into the input of the cross-attention
layer (a :class:`CrossAttentionLayer`):

- ``"masked"`` (Mask2Former): attention restricted to the predicted foreground (sigmoid >= 0.5);
  a query with no foreground pixel attends everywhere.
- ``"standard"``: plain cross-attention, no mask (DETR; Table 4a "- masked attention").
- ``"smca"``: spatially modulated co-attention (Gao et al. 2021): the attention logits get a
  Gaussian spatial prior ``-(dx^2 / sx^2 + dy^2 / sy^2) / 2`` centred on the query's predicted mask
  (centre and spread = the mean and standard deviation of the foreground pixels' coordinates,
  the spread at least one pixel of the finest attended level; the whole image for an empty mask).
- ``"mask_pooling"`` (K-Net): the query update is the average of the value-projected features
  inside its predicted foreground (attention with uniform weights there), without query-key
  products.

Every variant sees the attended levels concatenated (one level except for "naive multi-scale").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .layers import CrossAttentionLayer

__all__ = ["QUERY_ATTENTIONS", "attend", "background_blocks", "gaussian_prior", "pooling_weights"]


def _probabilities(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> torch.Tensor:
    """Mask probabilities resized to each level and concatenated: ``[B, Q, sum(h*w)]``."""
    resized = [
        F.interpolate(mask_logits.detach(), size=size, mode="bilinear", align_corners=False).flatten(2)
        for size in sizes
    ]
    return torch.cat(resized, dim=-1).sigmoid()


def background_blocks(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> torch.Tensor:
    """Masked attention's mask over the concatenated levels.

    Args:
        mask_logits: ``[B, Q, H, W]`` predicted mask logits.
        sizes: ``(h, w)`` of each attended level.

    Returns:
        bool ``[B, Q, sum(h*w)]``, True = may NOT attend (sigmoid < 0.5 after bilinear resizing).
        A query that is background everywhere attends everywhere instead, so no row is empty.
        Detached: no gradient flows through the mask.
    """
    blocked = _probabilities(mask_logits, sizes) < 0.5
    return blocked & ~blocked.all(dim=-1, keepdim=True)


def pooling_weights(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> torch.Tensor:
    """Mask pooling's weights: ``1 / |foreground|`` inside the predicted foreground, 0 outside.

    Returns:
        ``[B, Q, sum(h*w)]``, rows summing to 1 (uniform over every pixel for an empty mask).
    """
    inside = (~background_blocks(mask_logits, sizes)).to(mask_logits.dtype)
    return inside / inside.sum(dim=-1, keepdim=True)


def _level_coordinates(sizes: list[torch.Size], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres of every level in image-normalised coordinates: (x, y), each ``[sum(h*w)]``."""
    xs, ys = [], []
    for h, w in sizes:
        rows = (torch.arange(h, device=device) + 0.5) / h
        cols = (torch.arange(w, device=device) + 0.5) / w
        y, x = torch.meshgrid(rows, cols, indexing="ij")
        xs.append(x.flatten())
        ys.append(y.flatten())
    return torch.cat(xs), torch.cat(ys)


def gaussian_prior(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> torch.Tensor:
    """SMCA's spatial prior (log of a Gaussian) centred on each query's predicted mask.

    Args:
        mask_logits: ``[B, Q, H, W]`` predicted mask logits.
        sizes: ``(h, w)`` of each attended level.

    Returns:
        ``[B, Q, sum(h*w)]`` additive attention logits ``-(dx^2 / sx^2 + dy^2 / sy^2) / 2`` (0 at the
        centre), in coordinates normalised by the image size.
    """
    weights = pooling_weights(mask_logits, sizes)
    x, y = _level_coordinates(sizes, weights.device)
    min_spread = 1.0 / max(max(size) for size in sizes)  # one pixel of the finest attended level

    def moments(coord: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = (weights * coord).sum(-1, keepdim=True)
        var = (weights * (coord - mean) ** 2).sum(-1, keepdim=True)
        return mean, var.sqrt().clamp_min(min_spread)

    (cx, sx), (cy, sy) = moments(x), moments(y)
    return -0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2)


def _masked(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> dict[str, torch.Tensor]:
    return {"memory_mask": background_blocks(mask_logits, sizes)}


def _standard(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> dict[str, torch.Tensor]:
    return {}


def _smca(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> dict[str, torch.Tensor]:
    return {"memory_mask": gaussian_prior(mask_logits, sizes)}


def _mask_pooling(mask_logits: torch.Tensor, sizes: list[torch.Size]) -> dict[str, torch.Tensor]:
    return {"pool_weights": pooling_weights(mask_logits, sizes)}


# ``MODEL.MASK_FORMER.CROSS_ATTENTION`` name -> ``(mask logits, level sizes) -> keyword arguments of
# the cross-attention layer``. A new variant is one more entry.
QUERY_ATTENTIONS: dict[str, Callable[[torch.Tensor, list[torch.Size]], dict[str, torch.Tensor]]] = {
    "masked": _masked,
    "standard": _standard,
    "smca": _smca,
    "mask_pooling": _mask_pooling,
}


def attend(
    variant: str,
    layer: CrossAttentionLayer,
    queries: torch.Tensor,
    memory: torch.Tensor,
    pos: torch.Tensor,
    query_pos: torch.Tensor,
    mask_logits: torch.Tensor,
    sizes: list[torch.Size],
) -> torch.Tensor:
    """One cross-attention layer of the queries to the attended levels, by ``variant``.

    Args:
        variant: a key of :data:`QUERY_ATTENTIONS`.
        layer: the decoder's cross-attention layer.
        queries: ``[Q, B, C]`` query features.
        memory: ``[S, B, C]`` the attended levels' tokens, concatenated (``S = sum(h*w)``).
        pos: ``[S, B, C]`` their positional encodings.
        query_pos: ``[Q, B, C]`` query positions.
        mask_logits: ``[B, Q, H, W]`` the previous prediction's mask logits.
        sizes: ``(h, w)`` of each attended level, in the order of ``memory``.

    Returns:
        ``[Q, B, C]`` updated query features.
    """
    inputs = QUERY_ATTENTIONS[variant](mask_logits, sizes)
    return layer(queries, memory, pos=pos, query_pos=query_pos, **inputs)
