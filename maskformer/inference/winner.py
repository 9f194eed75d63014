"""Per-pixel winning query, one full-resolution pass per query instead of a [N, H, W] product."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["winning_query"]


def winning_query(
    masks: torch.Tensor, rows: Sequence[int], weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the position in ``rows`` of the row maximising ``weights[i] * masks[rows[i]]``.

    Gives exactly ``(weights[:, None, None] * masks[rows]).argmax(0)`` (the first maximum on ties)
    for NaN-free masks, without gathering the rows or materialising the product: the product of
    one row at a time is compared with the running maximum.

    Args:
        masks: ``[Q, H, W]`` per-query maps (mask probabilities or logits).
        rows: ``N >= 1`` row indices into ``masks``, in the order that breaks ties.
        weights: ``[N]`` per-row factors (e.g. class scores), or None for none.

    Returns:
        ``(winner, winner_mask)``: int64 ``[H, W]`` positions in ``rows`` and the unweighted
        ``masks`` value of the winning row at each pixel ``[H, W]``.
    """
    if not rows:
        raise ValueError("winning_query needs at least one row.")
    first = masks[rows[0]]
    best = first * weights[0] if weights is not None else first.clone()
    winner = torch.zeros(first.shape, dtype=torch.int64, device=first.device)
    winner_mask = first.clone()
    product = torch.empty_like(best)
    better = torch.empty(first.shape, dtype=torch.bool, device=first.device)
    for i, row in enumerate(rows[1:], start=1):
        mask = masks[row]
        candidate = mask if weights is None else torch.mul(mask, weights[i], out=product)
        torch.gt(candidate, best, out=better)
        # Only compared from here on: max equals where(better, ...) for NaN-free values.
        torch.maximum(best, candidate, out=best)
        winner.masked_fill_(better, i)
        torch.where(better, mask, winner_mask, out=winner_mask)
    return winner, winner_mask
