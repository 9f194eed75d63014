"""``Conv2d`` with an optional normalisation and activation (Detectron2's wrapper)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["Conv2d", "c2_msra_fill", "c2_xavier_fill"]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by ``norm`` and ``activation``.

    The norm is a child module named ``norm`` so parameter names read ``<conv>.weight``,
    ``<conv>.norm.weight``, as in Detectron2 and the official checkpoints.

    Args:
        *args: ``nn.Conv2d`` positional arguments.
        norm: normalisation module applied after the convolution, or None.
        activation: callable applied last, or None.
        **kwargs: ``nn.Conv2d`` keyword arguments.
    """

    def __init__(
        self,
        *args,
        norm: nn.Module | None = None,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
        x = self._conv_forward(x, self.weight, self.bias)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2's "XavierFill" (uniform, fan-in, gain 1) on the weight; zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2's "MSRAFill" (normal, fan-out, ReLU gain) on the weight; zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.zeros_(module.bias)
