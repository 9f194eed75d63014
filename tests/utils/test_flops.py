"""FLOP handlers for the ops fvcore misses, tracing adapter and fast builds."""

import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torchvision.ops import deform_conv2d

from maskformer.inference import semantic_inference
from maskformer.layers.ms_deform_attn import ms_deform_attn_core
from maskformer.structures import Instances
from maskformer.utils.analysis import InferenceTracingWrapper, flatten_tensors, skip_weight_init
from maskformer.utils.flops import activation_count_analysis, flop_count_analysis


class _Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _count(fn, *inputs):
    analysis = flop_count_analysis(_Lambda(fn), inputs)
    analysis.unsupported_ops_warnings(False)
    return analysis.total(), analysis.unsupported_ops()


def test_sdpa_equals_the_two_matmuls():
    q, k, v = torch.randn(2, 4, 10, 8), torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 16)
    total, unsupported = _count(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), q, k, v)
    assert total == 2 * 4 * 10 * 6 * (8 + 16) and not unsupported

    def explicit(q, k, v):
        return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)), -1), v)

    oracle = FlopCountAnalysis(_Lambda(explicit), (q, k, v))
    oracle.unsupported_ops_warnings(False)
    assert total == oracle.total()


def test_semantic_inference_counts_like_the_official_einsum():
    mask_cls, mask_pred = torch.randn(5, 4), torch.randn(5, 6, 7)  # Q=5, K=3, H=6, W=7
    total, unsupported = _count(semantic_inference, mask_cls, mask_pred)  # bmm with out=
    oracle = FlopCountAnalysis(
        _Lambda(lambda c, m: torch.einsum("qc,qhw->chw", c.softmax(-1)[:, :-1], m.sigmoid())),
        (mask_cls, mask_pred),
    )
    oracle.unsupported_ops_warnings(False)
    assert total == oracle.total() == 5 * 3 * 6 * 7 and not unsupported


def test_deformable_sampling_counts_four_corners_per_value():
    n, lq, m, c, shapes, p = 1, 5, 2, 4, [(4, 4), (2, 2)], 3
    value = torch.randn(n, sum(h * w for h, w in shapes), m, c)
    locations = torch.rand(n, lq, m, len(shapes), p, 2)
    weights = torch.rand(n, lq, m, len(shapes), p)
    total, unsupported = _count(
        lambda v, s, w: ms_deform_attn_core(v, shapes, s, w), value, locations, weights
    )
    # fvcore's grid_sample convention: 4 multiply-adds per bilinearly sampled value.
    assert total == n * lq * m * len(shapes) * p * 4 * c
    assert not unsupported


def test_deform_conv2d_counts_like_the_regular_convolution():
    x, weight = torch.randn(2, 8, 6, 7), torch.randn(4, 4, 3, 3)  # two groups of 4 channels
    offset, mask = torch.zeros(2, 2 * 9, 6, 7), torch.ones(2, 9, 6, 7)
    total, unsupported = _count(
        lambda x, w, o, m: deform_conv2d(x, o, w, padding=(1, 1), mask=m), x, weight, offset, mask
    )
    oracle, _ = _count(lambda x, w: F.conv2d(x, w, padding=1, groups=2), x, weight)
    assert total == oracle == 2 * 4 * 6 * 7 * 4 * 3 * 3 and not unsupported


def test_bicubic_upsample_and_ignored_elementwise_ops():
    x = torch.randn(1, 2, 3, 3)
    total, unsupported = _count(lambda x: F.interpolate(x, size=(6, 6), mode="bicubic"), x)
    assert total == 16 * 2 * 6 * 6 and not unsupported
    total, unsupported = _count(lambda x: torch.softmax(x * 2 + 1, -1).sigmoid() - F.gelu(x) + F.silu(x), x)
    assert total == 0 and not unsupported


def test_activation_count_of_linear():
    lin = nn.Linear(8, 5)
    analysis = activation_count_analysis(lin, (torch.randn(3, 8),))
    assert analysis.total() == 15


class _ListOfDictsModel(nn.Module):
    """Stands for a meta-architecture: list of dicts in, list of result dicts out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, batch):
        out = []
        for item in batch:
            y = self.conv(item["image"].float()[None])[0]
            inst = Instances((item["height"], item["width"]), scores=y.mean((1, 2)))
            out.append({"sem_seg": y, "panoptic_seg": (y.argmax(0), [{"id": 1}]), "instances": inst})
        return out


def test_tracing_wrapper_counts_a_list_of_dicts_model():
    image = torch.zeros(3, 4, 6, dtype=torch.uint8)
    wrapper = InferenceTracingWrapper(_ListOfDictsModel(), [{"height": 8, "width": 12}])
    outputs = wrapper(image)
    assert [tuple(t.shape) for t in outputs] == [(2, 4, 6), (4, 6), (2,)]
    analysis = flop_count_analysis(wrapper, (image,))
    assert analysis.total() == 3 * 2 * 4 * 6


def test_flatten_tensors():
    t = torch.zeros(1)
    assert len(flatten_tensors({"a": [t, (t, "x")], "b": 3, "c": Instances((1, 1), s=t)})) == 3


def test_skip_weight_init_only_inside_the_context():
    with skip_weight_init():
        x = torch.full((4,), 7.0)
        nn.init.trunc_normal_(x)
        x.normal_()
        nn.init.kaiming_uniform_(x[None])
        assert torch.equal(x, torch.full((4,), 7.0))
        lin = nn.Linear(3, 2)  # builds, with uninitialised values
    assert sum(p.numel() for p in lin.parameters()) == 8
    nn.init.normal_(x)
    assert not torch.equal(x, torch.full((4,), 7.0))


def test_skip_weight_init_keeps_constant_inits():
    with skip_weight_init():
        x = torch.empty(2, 3)
        nn.init.constant_(x, 0.5)
    assert torch.equal(x, torch.full((2, 3), 0.5))
