"""The contract every matcher follows, and the assignment step they share.

A matcher maps the predictions of one decoder layer and the targets of a batch to, per image, a
pair ``(pred_idx, tgt_idx)`` of int64 tensors of equal length: prediction ``pred_idx[k]`` is
matched to target ``tgt_idx[k]``; unmatched predictions are trained towards "no object". Every
matcher is called the same way, ``matcher(outputs, targets, generator=None)``, so the criterion
never needs to know which one it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from ..config.configurable import WithoutOptions

__all__ = ["Indices", "Matcher", "Outputs", "Targets", "solve_assignments"]

Indices = list[tuple[torch.Tensor, torch.Tensor]]
# ``{"pred_logits": [B, Q, K+1], "pred_masks": [B, Q, h, w], "pred_boxes": [B, Q, 4] (box head)}``
Outputs = dict[str, torch.Tensor]
# Per image ``{"labels": int64 [N], "masks": bool/float [N, H, W]}``.
Targets = list[dict[str, torch.Tensor]]


class Matcher(WithoutOptions, nn.Module, ABC):
    """Base of the matchers: ``forward(outputs, targets, generator=None) -> Indices``.

    ``forward`` runs without grad and with autocast disabled (matching is done in fp32, as in the
    official code) and calls :meth:`match`, which subclasses implement. A matcher without
    parameters needs neither ``__init__`` nor ``from_config`` (``WithoutOptions``).
    """

    @torch.no_grad()
    def forward(
        self, outputs: Outputs, targets: Targets, generator: torch.Generator | None = None
    ) -> Indices:
        """Matches every image of the batch.

        Args:
            outputs: one layer's predictions, ``{"pred_logits": [B, Q, K+1], "pred_masks":
                [B, Q, h, w]}`` (plus ``"pred_boxes": [B, Q, 4]`` for box matching; other keys are
                ignored).
            targets: per image ``{"labels": int64 [N], "masks": bool/float [N, H, W]}``.
            generator: random source of matchers that sample (the Hungarian matcher's points);
                None uses the global random state.

        Returns:
            Per image ``(pred_idx, tgt_idx)``, int64 CPU tensors of length N, sorted by ``pred_idx``.
        """
        with torch.autocast(device_type=outputs["pred_logits"].device.type, enabled=False):
            return self.match(outputs, targets, generator)

    @abstractmethod
    def match(self, outputs: Outputs, targets: Targets, generator: torch.Generator | None) -> Indices:
        """The matching itself (same arguments and result as ``forward``)."""


def solve_assignments(costs: list[torch.Tensor]) -> Indices:
    """Minimum-cost one-to-one assignment of each image's ``[Q, N]`` cost matrix (scipy).

    Raises:
        FloatingPointError: when a cost is NaN or inf (diverged predictions).
    """
    indices = []
    for cost in costs:
        cost = cost.cpu()
        if not torch.isfinite(cost).all():
            raise FloatingPointError(
                "The matching cost contains NaN or inf: the predictions have diverged "
                "(lower the learning rate or enable gradient clipping, SOLVER.CLIP_GRADIENTS)."
            )
        rows, cols = linear_sum_assignment(cost.numpy())
        indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
    return indices
