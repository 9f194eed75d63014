"""FLOP and activation counting with fvcore, plus handlers for the ops fvcore does not know.

Counting conventions follow fvcore / Detectron2 (which the papers' FLOP numbers come from): one
multiply-add is one FLOP; element-wise ops (add, mul, softmax, sigmoid, ...) and batch norm are
not counted. fvcore has no handler for these ops of our models, so they are added here:

- ``aten::scaled_dot_product_attention`` (Swin window attention, transformer decoders):
  ``QK^T`` plus ``attn @ V`` = ``batch * L * S * (E + Ev)``, what the official code's two
  matmuls count.
- multi-scale deformable attention sampling (``prim::PythonOp._DeformableGather``): one
  multiply-add per gathered corner and channel, i.e. the bilinear ``grid_sample`` count (4 per
  sampled value) of the official PyTorch fallback.
- ``aten::upsample_bicubic2d`` (Swin absolute position embedding): 16 per output element;
  ``aten::_upsample_bilinear2d_aa``: 4 per output element.
- ``torchvision::deform_conv2d`` (FaPN's feature alignment): the multiply-adds of the convolution
  itself, as fvcore counts a regular convolution (the bilinear sampling is not counted).
- ``aten::bmm`` in its ``out=`` form too (semantic inference writes into a prepared tensor; fvcore's
  handler takes two inputs only): ``B*N*K*M``, fvcore's count.
"""

from __future__ import annotations

import math
from typing import Any

from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from fvcore.nn.jit_handles import elementwise_flop_counter, generic_activation_jit, get_shape
from torch import nn

__all__ = [
    "ACTIVATION_HANDLERS",
    "FLOP_HANDLERS",
    "IGNORED_OPS",
    "activation_count_analysis",
    "flop_count_analysis",
]

# Element-wise and bookkeeping ops Detectron2's analysis ignores (they cost no multiply-adds or
# are negligible); listing them keeps fvcore's "unsupported op" warnings for real gaps only.
IGNORED_OPS = (
    "aten::add",
    "aten::add_",
    "aten::all",
    "aten::any",
    "aten::argmax",
    "aten::argsort",
    "aten::batch_norm",
    "aten::constant_pad_nd",
    "aten::cos",
    "aten::cumsum",
    "aten::div",
    "aten::div_",
    "aten::exp",
    "aten::fill_",
    "aten::gelu",
    "aten::le",
    "aten::log2",
    "aten::lt",
    "aten::max_pool2d",
    "aten::maximum",
    "aten::mean",
    "aten::meshgrid",
    "aten::min",
    "aten::minimum",
    "aten::mul",
    "aten::mul_",
    "aten::ne",
    "aten::neg",
    "aten::nonzero_numpy",
    "aten::pad",
    "aten::pow",
    "aten::reciprocal",
    "aten::repeat",
    "aten::repeat_interleave",
    "aten::rsqrt",
    "aten::rsub",
    "aten::sigmoid",
    "aten::sigmoid_",
    "aten::silu",
    "aten::sin",
    "aten::softmax",
    "aten::sort",
    "aten::sqrt",
    "aten::sub",
    "aten::sum",
    "aten::topk",
    "aten::where",
)


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """``scaled_dot_product_attention(q [.., L, E], k [.., S, E], v [.., S, Ev])``: ``L*S*(E+Ev)`` each."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def deformable_gather_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """``table [R, C]`` sampled at the 4 corners of every location of ``attention [N, Lq, M, L, P]``:
    ``4*N*Lq*M*L*P*C`` multiply-adds."""
    table, attention = get_shape(inputs[0]), get_shape(inputs[2])
    return 4 * math.prod(attention) * table[-1]


def bmm_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """``bmm(a [B, N, K], b [B, K, M])``, with or without ``out=``: ``B*N*K*M`` multiply-adds."""
    (batch, n, k), m = get_shape(inputs[0]), get_shape(inputs[1])[-1]
    return batch * n * k * m


def deform_conv2d_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """``deform_conv2d(input, weight [C_out, C_in / g, kh, kw], ...) -> [B, C_out, H, W]``: one
    multiply-add per output element and weight of its group."""
    weight = get_shape(inputs[1])
    return math.prod(get_shape(outputs[0])) * math.prod(weight[1:])


FLOP_HANDLERS = {
    "aten::scaled_dot_product_attention": sdpa_flop_jit,
    "prim::PythonOp._DeformableGather": deformable_gather_flop_jit,
    "aten::upsample_bicubic2d": elementwise_flop_counter(0, 16),
    "aten::_upsample_bilinear2d_aa": elementwise_flop_counter(0, 4),
    "torchvision::deform_conv2d": deform_conv2d_flop_jit,
    "aten::bmm": bmm_flop_jit,
}

ACTIVATION_HANDLERS = {
    "aten::scaled_dot_product_attention": generic_activation_jit(),
    "prim::PythonOp._DeformableGather": generic_activation_jit(),
}


def flop_count_analysis(model: nn.Module, inputs: tuple[Any, ...]) -> FlopCountAnalysis:
    """fvcore's ``FlopCountAnalysis`` with our handlers and Detectron2's ignored ops.

    Args:
        model: a module whose ``forward(*inputs)`` is traceable (tensors in, tensors out).
        inputs: the positional inputs.

    Returns:
        The (lazy) analysis; ``.total()``, ``.by_module()``, ``.by_operator()``,
        ``.unsupported_ops()``.
    """
    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**FLOP_HANDLERS)
    analysis.set_op_handle(**{name: None for name in IGNORED_OPS})
    return analysis


def activation_count_analysis(model: nn.Module, inputs: tuple[Any, ...]) -> ActivationCountAnalysis:
    """fvcore's ``ActivationCountAnalysis`` (outputs of convs / matmuls / attention) for ``model``."""
    analysis = ActivationCountAnalysis(model, inputs)
    analysis.set_op_handle(**ACTIVATION_HANDLERS)
    analysis.set_op_handle(**{name: None for name in IGNORED_OPS})
    return analysis
