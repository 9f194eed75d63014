"""Norm layers: FrozenBatchNorm2d equals an eval BatchNorm2d, get_norm covers every config name."""

import pytest
import torch
from torch import nn

from maskformer.layers import Conv2d, FrozenBatchNorm2d, LayerNorm2d, get_norm


def _random_bn(c=6):
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    return bn.eval()


def test_frozen_bn_equals_eval_batchnorm():
    bn = _random_bn()
    frozen = FrozenBatchNorm2d(6)
    frozen.load_state_dict(bn.state_dict())  # num_batches_tracked is dropped
    x = torch.randn(2, 6, 5, 4)
    torch.testing.assert_close(frozen(x), bn(x))


def test_frozen_bn_exact_values_and_buffer_names():
    frozen = FrozenBatchNorm2d(1, eps=0.0)
    frozen.weight.fill_(2.0)
    frozen.bias.fill_(1.0)
    frozen.running_mean.fill_(3.0)
    frozen.running_var.fill_(4.0)
    x = torch.tensor([[[[5.0, 1.0]]]])
    # 2 * (x - 3) / 2 + 1
    torch.testing.assert_close(frozen(x), torch.tensor([[[[3.0, -1.0]]]]))
    assert set(frozen.state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    assert list(frozen.parameters()) == []


def test_convert_frozen_batchnorm_recurses_and_copies():
    bn = _random_bn()
    model = nn.Sequential(nn.Conv2d(3, 6, 1), nn.Sequential(bn))
    x = torch.randn(1, 3, 4, 4)
    expected = model(x)
    converted = FrozenBatchNorm2d.convert_frozen_batchnorm(model)
    assert isinstance(converted[1][0], FrozenBatchNorm2d)
    torch.testing.assert_close(converted(x), expected)
    assert isinstance(FrozenBatchNorm2d.convert_frozen_batchnorm(_random_bn()), FrozenBatchNorm2d)


@pytest.mark.parametrize(
    "name,cls",
    [
        ("BN", nn.BatchNorm2d),
        ("SyncBN", nn.SyncBatchNorm),
        ("FrozenBN", FrozenBatchNorm2d),
        ("GN", nn.GroupNorm),
        ("LN", LayerNorm2d),
    ],
)
def test_get_norm_names(name, cls):
    assert isinstance(get_norm(name, 64), cls)


def test_get_norm_none_callable_and_error():
    assert get_norm("", 8) is None
    assert get_norm(None, 8) is None
    assert isinstance(get_norm(lambda c: nn.GroupNorm(2, c), 8), nn.GroupNorm)
    assert get_norm("GN", 64).num_groups == 32
    with pytest.raises(ValueError, match="Unknown norm 'BatchNorm'"):
        get_norm("BatchNorm", 8)


def test_layernorm2d_normalises_channels_per_pixel():
    ln = LayerNorm2d(4)
    x = torch.randn(2, 4, 3, 3)
    expected = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (4,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(ln(x), expected)


def test_conv2d_wrapper_names_and_order():
    conv = Conv2d(3, 4, 1, bias=False, norm=nn.GroupNorm(2, 4), activation=torch.relu)
    assert set(conv.state_dict()) == {"weight", "norm.weight", "norm.bias"}
    x = torch.randn(1, 3, 2, 2)
    expected = torch.relu(conv.norm(nn.functional.conv2d(x, conv.weight)))
    torch.testing.assert_close(conv(x), expected)
