"""LR values at given iterations against the closed-form formulas."""

import logging
import math

import pytest
import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    CosineParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    StepWithFixedGammaParamScheduler,
)

from maskformer.config import get_cfg
from maskformer.solver import (
    WarmupCosineLR,
    WarmupMultiStepLR,
    WarmupPolyLR,
    WarmupStepWithFixedGammaLR,
    build_lr_scheduler,
)


def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(scheduler, n: int) -> list[float]:
    values = []
    for _ in range(n):
        values.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return values


def test_multistep_with_linear_warmup():
    sched = WarmupMultiStepLR(_optimizer(), [5, 8], gamma=0.1, warmup_factor=0.1, warmup_iters=4)
    got = _lrs(sched, 10)
    # warmup: 0.1 * (1 - t/4) + t/4 for t < 4
    expected = [0.1, 0.325, 0.55, 0.775, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    assert got == pytest.approx(expected)


def test_constant_warmup():
    sched = WarmupMultiStepLR(
        _optimizer(2.0), [100], warmup_factor=0.25, warmup_iters=3, warmup_method="constant"
    )
    assert _lrs(sched, 5) == pytest.approx([0.5, 0.5, 0.5, 2.0, 2.0])


def test_poly_values_and_constant_ending():
    sched = WarmupPolyLR(_optimizer(), max_iters=10, warmup_iters=0, power=0.9)
    got = _lrs(sched, 11)
    assert got == pytest.approx([(1 - t / 10) ** 0.9 for t in range(11)])
    sched = WarmupPolyLR(_optimizer(), max_iters=10, warmup_iters=0, power=1.0, constant_ending=0.25)
    assert _lrs(sched, 10) == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.25])


def test_poly_with_warmup_multiplies():
    sched = WarmupPolyLR(_optimizer(), max_iters=100, warmup_factor=0.5, warmup_iters=2, power=0.9)
    got = _lrs(sched, 3)
    assert got == pytest.approx([0.5, 0.75 * 0.99**0.9, 0.98**0.9])


def test_cosine_goes_to_end_value():
    sched = WarmupCosineLR(_optimizer(), max_iters=4, warmup_iters=0, end_factor=0.1)
    got = _lrs(sched, 5)
    expected = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(5)]
    assert got == pytest.approx(expected)
    assert got[-1] == pytest.approx(0.1)


def test_state_dict_round_trip_continues_the_schedule():
    sched = WarmupPolyLR(_optimizer(), max_iters=20, warmup_iters=3, power=0.9)
    _lrs(sched, 7)
    state = sched.state_dict()
    reference = _lrs(sched, 5)
    restored = WarmupPolyLR(_optimizer(), max_iters=20, warmup_iters=3, power=0.9)
    restored.load_state_dict(state)
    assert _lrs(restored, 5) == pytest.approx(reference)


class _Records(logging.Handler):
    """Collects records of one logger directly (independent of propagation set by other tests)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("cls", [WarmupPolyLR, WarmupCosineLR])
def test_resume_with_another_max_iter_warns_and_keeps_the_checkpoint_schedule(cls):
    saved = cls(_optimizer(), max_iters=20, warmup_iters=0)
    _lrs(saved, 7)
    reference = _lrs(cls(_optimizer(), max_iters=20, warmup_iters=0), 12)[7:]
    records = _Records()
    log = logging.getLogger("maskformer.solver.lr_scheduler")
    log.addHandler(records)
    try:
        same = cls(_optimizer(), max_iters=20, warmup_iters=0)
        same.load_state_dict(saved.state_dict())
        assert records.messages == []
        restored = cls(_optimizer(), max_iters=50, warmup_iters=0)
        restored.load_state_dict(saved.state_dict())
    finally:
        log.removeHandler(records)
    assert len(records.messages) == 1
    assert "SOLVER.MAX_ITER=20" in records.messages[0] and "SOLVER.MAX_ITER=50" in records.messages[0]
    assert restored.max_iters == 20
    assert _lrs(restored, 5) == pytest.approx(reference)


def test_per_group_base_lrs_are_scaled_together():
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in (1.0, 0.1)]
    opt = torch.optim.SGD(params, lr=1.0)
    sched = WarmupMultiStepLR(opt, [1], gamma=0.5, warmup_iters=0)
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])


@pytest.mark.parametrize(
    "name", ["WarmupMultiStepLR", "WarmupPolyLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR"]
)
def test_build_from_config(name):
    cfg = get_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = name
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.MAX_ITER = 10
    cfg.SOLVER.STEPS = [5]
    cfg.SOLVER.WARMUP_ITERS = 2
    cfg.SOLVER.WARMUP_FACTOR = 0.5
    sched = build_lr_scheduler(cfg, _optimizer())
    assert _lrs(sched, 2) == pytest.approx([0.5, 0.75 * sched._decay(1)])


def test_bad_config_values_are_clear_errors():
    cfg = get_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupPoly"
    with pytest.raises(ValueError, match="LR_SCHEDULER_NAME='WarmupPoly'"):
        build_lr_scheduler(cfg, _optimizer())
    with pytest.raises(ValueError, match="WARMUP_METHOD='exp'"):
        WarmupPolyLR(_optimizer(), 10, warmup_method="exp")
    with pytest.raises(ValueError, match="STEPS must be increasing"):
        WarmupMultiStepLR(_optimizer(), [5, 3])


def _detectron2_multipliers(schedule, warmup_factor: float, warmup_iters: int, max_iter: int, rescale: bool):
    """Detectron2's WarmupParamScheduler + LRMultiplier, composed from fvcore: the oracle."""
    length = warmup_iters / max_iter
    warmup = LinearParamScheduler(warmup_factor * schedule(0.0), schedule(length))
    composite = CompositeParamScheduler(
        [warmup, schedule],
        interval_scaling=["rescaled", "rescaled" if rescale else "fixed"],
        lengths=[length, 1 - length],
    )
    return [composite(t / max_iter) for t in range(max_iter)]


def test_step_with_fixed_gamma_equals_fvcore():
    sched = WarmupStepWithFixedGammaLR(_optimizer(), max_iters=8, gamma=0.5, num_decays=3, warmup_iters=0)
    assert _lrs(sched, 8) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    # 30000 of 90000 with 2 decays is a boundary only fvcore's epsilon keeps exact.
    ours = WarmupStepWithFixedGammaLR(_optimizer(), max_iters=90000, gamma=0.1, num_decays=2, warmup_iters=0)
    oracle = StepWithFixedGammaParamScheduler(1.0, num_decays=2, gamma=0.1, num_updates=90000)
    for t in (0, 29999, 30000, 59999, 60000, 89999):
        assert ours._decay(t) == pytest.approx(oracle(t / 90000)), t


@pytest.mark.parametrize("rescale", [False, True])
def test_rescale_interval_equals_detectron2(rescale):
    """SOLVER.RESCALE_INTERVAL: the decay starts after warmup and is stretched to MAX_ITER."""
    multistep = WarmupMultiStepLR(
        _optimizer(), [6], 0.1, warmup_factor=0.5, warmup_iters=2, max_iters=10, rescale_interval=rescale
    )
    oracle = MultiStepParamScheduler([1.0, 0.1], milestones=[6], num_updates=10)
    expected = _detectron2_multipliers(oracle, 0.5, 2, 10, rescale)
    assert _lrs(multistep, 10) == pytest.approx(expected)
    assert expected[6] == (1.0 if rescale else 0.1)  # the step moved from iteration 6 to 7
    cosine = WarmupCosineLR(_optimizer(), 10, warmup_factor=1.0, warmup_iters=2, rescale_interval=rescale)
    expected = _detectron2_multipliers(CosineParamScheduler(1.0, 0.0), 1.0, 2, 10, rescale)
    assert _lrs(cosine, 10)[2:] == pytest.approx(expected[2:])


def test_rescale_interval_from_config_and_its_limits():
    cfg = get_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupStepWithFixedGammaLR"
    cfg.SOLVER.MAX_ITER, cfg.SOLVER.WARMUP_ITERS, cfg.SOLVER.NUM_DECAYS = 12, 4, 1
    cfg.SOLVER.RESCALE_INTERVAL = True
    sched = build_lr_scheduler(cfg, _optimizer())
    # After warmup, t' = (t - 4) * 12 / 8: the single decay (at t' = 6) comes at t = 8, not 6.
    assert [sched._decay(sched._schedule_iter(t)) for t in (6, 7, 8)] == pytest.approx([1, 1, 0.1])
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupPolyLR"
    records = _Records()
    log = logging.getLogger("maskformer.solver.build")
    log.addHandler(records)
    try:
        build_lr_scheduler(cfg, _optimizer())
    finally:
        log.removeHandler(records)
    assert any("RESCALE_INTERVAL has no effect with WarmupPolyLR" in m for m in records.messages)
    with pytest.raises(ValueError, match="RESCALE_INTERVAL needs SOLVER.MAX_ITER"):
        WarmupCosineLR(_optimizer(), 4, warmup_iters=4, rescale_interval=True)
    with pytest.raises(ValueError, match="WarmupPolyLR does not rescale"):
        WarmupPolyLR(_optimizer(), 10, rescale_interval=True)
    with pytest.raises(ValueError, match="NUM_DECAYS >= 1"):
        WarmupStepWithFixedGammaLR(_optimizer(), 10, num_decays=0)
