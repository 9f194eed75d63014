"""``Conv2d`` with an optional normalisation and activation (Detectron2's wrapper)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .norm import FrozenBatchNorm2d

__all__ = ["Conv2d", "c2_msra_fill", "c2_xavier_fill"]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by ``norm`` and ``activation``.

    A ``FrozenBatchNorm2d`` norm is folded into the convolution's weight and bias (see
    :meth:`folded_weight_and_bias`); other norms run after the convolution.

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
        if isinstance(self.norm, FrozenBatchNorm2d):
            x = self._conv_forward(x, *self.folded_weight_and_bias())
        else:
            x = self._conv_forward(x, self.weight, self.bias)
            if self.norm is not None:
                x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def folded_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight ``[C_out, C_in / groups, kH, kW]`` and bias ``[C_out]`` of conv + frozen norm.

        A frozen batch norm is a per-channel affine map, so it folds into the convolution: no
        pass over the output map. The fold is recomputed at every call (a few element-wise ops
        on the weights), so gradients reach ``self.weight`` (and ``self.bias``) exactly as through
        the unfolded layers, and loaded or updated weights take effect at once.
        """
        scale, shift = self.norm.scale_and_shift()
        scale, shift = scale.to(self.weight.dtype), shift.to(self.weight.dtype)
        weight = self.weight * scale.reshape(-1, 1, 1, 1)
        bias = shift if self.bias is None else torch.addcmul(shift, self.bias, scale)
        return weight, bias


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
