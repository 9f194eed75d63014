"""Semantic inference: per-class scores from mask classification (MaskFormer paper, Sec. 3.4)."""

from __future__ import annotations

import torch

from ..utils.hugepages import empty_for_writing

__all__ = ["semantic_inference"]


def semantic_inference(
    mask_cls: torch.Tensor, mask_pred: torch.Tensor, mask_prob: torch.Tensor | None = None
) -> torch.Tensor:
    """Marginalises the mask predictions over their class probabilities.

    ``out[c, h, w] = sum_q softmax(mask_cls[q])[c] * sigmoid(mask_pred[q, h, w])`` for the K
    non-void classes (the "no object" probability is dropped, not renormalised).

    Args:
        mask_cls: ``[Q, K+1]`` class logits.
        mask_pred: ``[Q, H, W]`` mask logits.
        mask_prob: ``mask_pred.sigmoid()`` when the caller has it already (it is not recomputed).

    Returns:
        ``[K, H, W]`` scores in ``[0, Q]`` (argmax over K gives the semantic map).
    """
    probs = mask_cls.softmax(-1)[..., :-1]  # [Q, K]
    masks = mask_pred.sigmoid() if mask_prob is None else mask_prob  # [Q, H, W]
    # torch.einsum("qc,qhw->chw", probs, masks) is this product, [1, K, Q] x [1, Q, H*W]: written
    # out to fill memory from empty_for_writing (the result is the largest output, [K, H, W]).
    (num_queries, num_classes), size = probs.shape, masks.shape[-2:]
    out = empty_for_writing((num_classes, *size), masks.dtype, masks.device)
    torch.bmm(probs.t()[None], masks.reshape(1, num_queries, -1), out=out.view(1, num_classes, -1))
    return out
