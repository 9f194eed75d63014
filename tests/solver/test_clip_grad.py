"""Gradient clipping: full-model norm, per-parameter norm, value."""

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.solver import build_grad_clipper, build_gradient_clipper


def _params() -> list[torch.nn.Parameter]:
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([4.0])
    return [a, b]


def test_full_model_clips_the_total_norm():
    a, b = _params()
    build_grad_clipper("full_model", 1.0)([a, b])
    # total norm 5 -> scaled by 1/5 (clip_grad_norm_ adds 1e-6 to the denominator)
    assert a.grad.tolist() == pytest.approx([0.6, 0.0], rel=1e-5)
    assert b.grad.tolist() == pytest.approx([0.8], rel=1e-5)
    total = torch.cat([a.grad, b.grad]).norm()
    assert total.item() == pytest.approx(1.0, rel=1e-5)


def test_norm_clips_each_parameter_separately():
    a, b = _params()
    build_grad_clipper("norm", 2.0)([a, b])
    assert a.grad.tolist() == pytest.approx([2.0, 0.0], rel=1e-5)
    assert b.grad.tolist() == pytest.approx([2.0], rel=1e-5)


def test_value_clamps_elements():
    a, b = _params()
    build_grad_clipper("value", 3.5)([a, b])
    assert a.grad.tolist() == [3.0, 0.0]
    assert b.grad.tolist() == [3.5]


def test_config_builder_and_errors():
    cfg = get_cfg()
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = False
    assert build_gradient_clipper(cfg) is None
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full"
    with pytest.raises(ValueError, match="CLIP_TYPE='full'.*full_model"):
        build_gradient_clipper(cfg)
    with pytest.raises(ValueError, match="CLIP_VALUE must be > 0"):
        build_grad_clipper("value", 0.0)


def _random_grads(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(n)) for n in (3, 50, 7)]
    for p, scale in zip(params, (0.1, 1.0, 10.0)):  # below, around and above the clip value
        p.grad = torch.randn(p.shape, generator=g) * scale
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_norm_equals_clip_grad_norm_on_each_parameter(norm_type):
    batched, reference = _random_grads(0), _random_grads(0)
    build_grad_clipper("norm", 1.5, norm_type)(batched)
    for p in reference:
        torch.nn.utils.clip_grad_norm_([p], 1.5, norm_type, foreach=False)
    for a, b in zip(batched, reference):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0.0)


def test_full_model_takes_one_fused_norm(monkeypatch):
    calls = []
    foreach_norm = torch._foreach_norm
    monkeypatch.setattr(torch, "_foreach_norm", lambda *a, **k: calls.append(1) or foreach_norm(*a, **k))
    params = _random_grads(1)
    reference = _random_grads(1)
    build_grad_clipper("full_model", 1.5)(params)
    torch.nn.utils.clip_grad_norm_(reference, 1.5, foreach=False)
    assert len(calls) == 1
    for a, b in zip(params, reference):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0.0)
