"""Conv2d with a frozen batch norm: the fold into weight and bias equals conv then norm."""

import pytest
import torch
from torch import nn

from maskformer.layers import Conv2d, FrozenBatchNorm2d


def _conv_with_frozen_bn(bias: bool) -> Conv2d:
    g = torch.Generator().manual_seed(0)
    norm = FrozenBatchNorm2d(4)
    norm.weight.copy_(torch.rand(4, generator=g) + 0.5)
    norm.bias.copy_(torch.randn(4, generator=g))
    norm.running_mean.copy_(torch.randn(4, generator=g))
    norm.running_var.copy_(torch.rand(4, generator=g) + 0.5)
    conv = Conv2d(3, 4, 3, padding=1, stride=2, bias=bias, norm=norm, activation=torch.relu)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        if bias:
            conv.bias.copy_(torch.randn(4, generator=g))
    return conv


def _unfolded(conv: Conv2d, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(conv.norm(nn.functional.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)))


@pytest.mark.parametrize("bias", [False, True])
def test_fold_equals_conv_then_norm_in_values_and_gradients(bias):
    conv = _conv_with_frozen_bn(bias)
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    grad_out = torch.randn(2, 4, 5, 4, generator=torch.Generator().manual_seed(2))
    params = [x, *conv.parameters()]
    folded = conv(x)
    folded_grads = torch.autograd.grad(folded, params, grad_out)
    expected = _unfolded(conv, x)
    expected_grads = torch.autograd.grad(expected, params, grad_out)
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)
    assert len(folded_grads) == (3 if bias else 2)
    for got, want in zip(folded_grads, expected_grads):
        assert want.abs().max() > 0
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert all(b.grad is None and not b.requires_grad for b in conv.norm.buffers())


def test_fold_follows_loaded_norm_buffers_and_exact_on_a_hand_made_case():
    conv = Conv2d(1, 1, 1, bias=False, norm=FrozenBatchNorm2d(1, eps=0.0))
    conv.weight.data.fill_(3.0)
    conv.norm.load_state_dict(
        {
            "weight": torch.tensor([2.0]),
            "bias": torch.tensor([1.0]),
            "running_mean": torch.tensor([3.0]),
            "running_var": torch.tensor([4.0]),
        }
    )
    # 2 * (3x - 3) / 2 + 1 = 3x - 2
    out = conv(torch.tensor([[[[1.0, 2.0]]]]))
    torch.testing.assert_close(out, torch.tensor([[[[1.0, 4.0]]]]))
    norm_keys = {f"norm.{k}" for k in ("weight", "bias", "running_mean", "running_var")}
    assert set(conv.state_dict()) == {"weight"} | norm_keys
