"""The configured optimizers (fused AdamW and SGD) step like torch's per-tensor loop."""

import copy

import pytest
import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.solver import build_optimizer


def _three_steps(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        optimizer.zero_grad()
        model(x).square().sum().backward()
        optimizer.step()


def _loop_twin(optimizer: torch.optim.Optimizer, model: nn.Module, twin: nn.Module) -> torch.optim.Optimizer:
    """The same optimizer class and groups over ``twin``'s parameters, on the per-tensor loop."""
    index = {id(p): i for i, p in enumerate(model.parameters())}
    twin_params = list(twin.parameters())
    groups = []
    for group in optimizer.param_groups:
        settings = {k: v for k, v in group.items() if k not in ("params", "fused", "foreach")}
        groups.append({**settings, "params": [twin_params[index[id(p)]] for p in group["params"]]})
    return type(optimizer)(groups, foreach=False)


@pytest.mark.parametrize("name", ["ADAMW", "SGD"])
def test_steps_equal_the_per_tensor_loop(name):
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = name
    cfg.SOLVER.BASE_LR = 0.01
    cfg.SOLVER.MOMENTUM = 0.9
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.WEIGHT_DECAY_NORM = 0.0
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.Flatten(), nn.Linear(16, 5))
    twin, initial = copy.deepcopy(model), copy.deepcopy(model)
    optimizer = build_optimizer(cfg, model)
    assert len(optimizer.param_groups) > 1  # decayed and undecayed groups
    assert all(group["fused"] for group in optimizer.param_groups)
    reference = _loop_twin(optimizer, model, twin)
    _three_steps(model, optimizer)
    _three_steps(twin, reference)
    for (param_name, a), b, start in zip(model.named_parameters(), twin.parameters(), initial.parameters()):
        assert not torch.equal(a, start), param_name
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=param_name)


@pytest.mark.parametrize("name", ["ADAMW", "SGD"])
def test_loading_a_per_tensor_loop_state_keeps_the_fused_kernel(name):
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = name
    model = nn.Linear(3, 2)
    optimizer = build_optimizer(cfg, model)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    for group in saved["param_groups"]:  # as saved by the per-tensor loop (or older code)
        group.update(fused=None, foreach=None)
    optimizer.load_state_dict(saved)
    assert all(group["fused"] for group in optimizer.param_groups)
    optimizer.step()
