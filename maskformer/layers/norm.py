"""Normalisation layers and the ``get_norm`` factory used by every conv in the model."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FrozenBatchNorm2d", "LayerNorm2d", "get_norm"]


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers.

    Buffer names (``weight``, ``bias``, ``running_mean``, ``running_var``) are Detectron2's, so
    official checkpoints and Detectron2 ImageNet backbones (R-50.pkl) load unchanged. Being buffers,
    they never receive gradients nor weight decay.

    Args:
        num_features: channels C.
        eps: added to the variance.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def scale_and_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer as ``y = x * scale + shift``: both ``[C]``, in the buffers' dtype."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]``: a per-channel affine map, applied in one pass."""
        scale, shift = (t.reshape(1, -1, 1, 1).to(x.dtype) for t in self.scale_and_shift())
        return torch.addcmul(shift, x, scale)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, *args):
        # Checkpoints of a trainable BatchNorm carry a counter this layer does not need.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, *args)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Returns ``module`` with every BatchNorm2d / SyncBatchNorm replaced by a frozen copy.

        Args:
            module: any module; converted in place below the root, and the root is returned
                (replaced if it is itself a batch norm).
        """
        if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
            frozen = cls(module.num_features, module.eps)
            if module.affine:
                frozen.weight.copy_(module.weight.detach())
                frozen.bias.copy_(module.bias.detach())
            if module.running_mean is not None:
                frozen.running_mean.copy_(module.running_mean)
                frozen.running_var.copy_(module.running_var)
            return frozen
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                setattr(module, name, new_child)
        return module


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a ``[B, C, H, W]`` map (as in ConvNeXt / Detectron2).

    Args:
        num_channels: C.
        eps: added to the variance.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H, W]`` normalised over C at every pixel."""
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "BN": nn.BatchNorm2d,
    "SyncBN": nn.SyncBatchNorm,
    "FrozenBN": FrozenBatchNorm2d,
    "GN": lambda channels: nn.GroupNorm(32, channels),
    "LN": LayerNorm2d,
}


def get_norm(norm: str | Callable[[int], nn.Module] | None, out_channels: int) -> nn.Module | None:
    """Builds a normalisation layer by its config name.

    Args:
        norm: ``"BN"``, ``"SyncBN"``, ``"FrozenBN"``, ``"GN"`` (32 groups), ``"LN"`` (channels
            LayerNorm), ``""``/None for no norm, or a callable ``channels -> nn.Module``.
        out_channels: channels C of the normalised map.

    Returns:
        The layer, or None for no normalisation.
    """
    if norm is None or norm == "":
        return None
    if callable(norm):
        return norm(out_channels)
    if norm not in _NORMS:
        raise ValueError(
            f"Unknown norm {norm!r} (used by a *.NORM config key such as MODEL.RESNETS.NORM or "
            f"MODEL.SEM_SEG_HEAD.NORM); choose one of {sorted(_NORMS)} or '' for none."
        )
    return _NORMS[norm](out_channels)
