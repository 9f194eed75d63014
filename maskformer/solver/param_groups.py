"""Optimizer parameter groups: per-parameter learning rate and weight decay.

The rules are those of the official Mask2Former ``train_net.py``, applied in this order (later
rules win):

1. every trainable parameter starts with ``base_lr`` and ``weight_decay``;
2. biases get ``base_lr * bias_lr_factor`` and ``weight_decay_bias`` (Detectron2 keys; the
   defaults 1.0 / None change nothing);
3. parameters of modules under ``backbone.`` get ``lr * backbone_multiplier``;
4. Swin's ``relative_position_bias_table`` and ``absolute_pos_embed`` get no weight decay;
5. parameters of normalisation layers get ``weight_decay_norm``;
6. weights of ``nn.Embedding`` modules (the decoders' ``query_feat``, ``query_embed`` and
   ``level_embed``) get ``weight_decay_embed``. Only the module type counts, as in the official
   builder: an embedding stored as a plain ``nn.Parameter`` (the MSDeformAttn pixel decoder's
   ``level_embed``) keeps the normal ``weight_decay``.

Shared parameters appear once; parameters with equal hyperparameters are merged into one group.
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["get_default_optimizer_params", "norm_module_types"]

_NO_DECAY_PARAM_NAMES = ("relative_position_bias_table", "absolute_pos_embed")


def norm_module_types() -> tuple[type[nn.Module], ...]:
    """Every normalisation layer type, the project's ``FrozenBatchNorm2d`` included."""
    from maskformer import layers

    types: list[type[nn.Module]] = [
        nn.modules.batchnorm._BatchNorm,  # BatchNorm1d/2d/3d, SyncBatchNorm
        nn.modules.instancenorm._InstanceNorm,  # InstanceNorm1d/2d/3d
        nn.GroupNorm,
        nn.LayerNorm,
        nn.LocalResponseNorm,
        nn.RMSNorm,
    ]
    frozen_bn = getattr(layers, "FrozenBatchNorm2d", None)  # holds only buffers; listed for subclasses
    if frozen_bn is not None:
        types.append(frozen_bn)
    return tuple(types)


def _is_backbone(module_name: str) -> bool:
    return module_name == "backbone" or module_name.startswith("backbone.")


def _hyperparams(module_name: str, module: nn.Module, param_name: str, rules: dict[str, Any]) -> dict:
    """lr and weight decay for one parameter following the rules of the module docstring."""
    lr, weight_decay = rules["base_lr"], rules["weight_decay"]
    if param_name == "bias":
        lr *= rules["bias_lr_factor"]
        if rules["weight_decay_bias"] is not None:
            weight_decay = rules["weight_decay_bias"]
    if _is_backbone(module_name):
        lr *= rules["backbone_multiplier"]
    if param_name in _NO_DECAY_PARAM_NAMES:
        weight_decay = 0.0
    if isinstance(module, rules["norm_types"]):
        weight_decay = rules["weight_decay_norm"]
    if isinstance(module, nn.Embedding):
        weight_decay = rules["weight_decay_embed"]
    return {"lr": lr, "weight_decay": weight_decay}


def get_default_optimizer_params(
    model: nn.Module,
    base_lr: float,
    weight_decay: float,
    weight_decay_norm: float = 0.0,
    weight_decay_embed: float = 0.0,
    backbone_multiplier: float = 1.0,
    bias_lr_factor: float = 1.0,
    weight_decay_bias: float | None = None,
) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim`` following the module docstring's rules.

    Args:
        model: the (unwrapped) model; backbone parameters are those under ``backbone.``.
        base_lr: SOLVER.BASE_LR.
        weight_decay: SOLVER.WEIGHT_DECAY.
        weight_decay_norm: SOLVER.WEIGHT_DECAY_NORM.
        weight_decay_embed: SOLVER.WEIGHT_DECAY_EMBED.
        backbone_multiplier: SOLVER.BACKBONE_MULTIPLIER.
        bias_lr_factor: SOLVER.BIAS_LR_FACTOR.
        weight_decay_bias: SOLVER.WEIGHT_DECAY_BIAS (None: same as ``weight_decay``).

    Returns:
        ``[{"params": [Parameter, ...], "lr": float, "weight_decay": float}, ...]``, groups in
        order of first appearance, each trainable parameter exactly once.
    """
    rules = {
        "base_lr": base_lr,
        "weight_decay": weight_decay,
        "weight_decay_norm": weight_decay_norm,
        "weight_decay_embed": weight_decay_embed,
        "backbone_multiplier": backbone_multiplier,
        "bias_lr_factor": bias_lr_factor,
        "weight_decay_bias": weight_decay_bias,
        "norm_types": norm_module_types(),
    }
    seen: set[int] = set()
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            hp = _hyperparams(module_name, module, param_name, rules)
            key = (hp["lr"], hp["weight_decay"])
            groups.setdefault(key, {"params": [], **hp})["params"].append(param)
    return list(groups.values())
