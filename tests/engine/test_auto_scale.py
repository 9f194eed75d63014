"""SOLVER.REFERENCE_WORLD_SIZE: Detectron2's auto_scale_workers on hand-made numbers."""

import logging

import pytest

from maskformer.config import get_cfg
from maskformer.engine.auto_scale import auto_scale_workers
from tests.helpers.toy_engine import ToyTrainer, toy_cfg


def _cfg(reference: int):
    cfg = get_cfg()
    s = cfg.SOLVER
    s.REFERENCE_WORLD_SIZE, s.IMS_PER_BATCH, s.BASE_LR = reference, 16, 0.1
    s.MAX_ITER, s.WARMUP_ITERS, s.STEPS, s.CHECKPOINT_PERIOD = 5000, 10, [4000, 4500], 1000
    cfg.TEST.EVAL_PERIOD = 5000
    return cfg


class _Records(logging.Handler):
    """Collects one logger's records directly (the package logger may not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"


def test_eight_process_recipe_on_two_processes():
    cfg = _cfg(8)
    cfg.freeze()
    records, log = _Records(), logging.getLogger("maskformer.engine.auto_scale")
    log.addHandler(records)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        out = auto_scale_workers(cfg, 2)
    finally:
        log.removeHandler(records)
        log.setLevel(level)
    s = out.SOLVER
    assert (s.IMS_PER_BATCH, s.MAX_ITER, s.WARMUP_ITERS, list(s.STEPS)) == (4, 20000, 40, [16000, 18000])
    assert s.BASE_LR == pytest.approx(0.025)
    assert (s.CHECKPOINT_PERIOD, out.TEST.EVAL_PERIOD, s.REFERENCE_WORLD_SIZE) == (4000, 20000, 2)
    assert out.is_frozen() and cfg.SOLVER.MAX_ITER == 5000  # the input is untouched
    assert "IMS_PER_BATCH=4" in records.text and "MAX_ITER=20000" in records.text
    assert auto_scale_workers(out, 2) is out  # already scaled


def test_rounding_when_scaling_up():
    s = auto_scale_workers(_cfg(16), 3).SOLVER  # scale 3/16: 16*3/16 = 3 images, 5000*16/3 iters
    assert (s.IMS_PER_BATCH, s.MAX_ITER, s.WARMUP_ITERS, list(s.STEPS)) == (3, 26667, 53, [21333, 24000])


@pytest.mark.parametrize("reference", [0, 4])
def test_no_reference_or_same_world_size_is_a_no_op(reference):
    cfg = _cfg(reference)
    assert auto_scale_workers(cfg, 4) is cfg


def test_reference_must_divide_the_batch():
    with pytest.raises(ValueError, match="REFERENCE_WORLD_SIZE=3 must .* divide SOLVER.IMS_PER_BATCH=16"):
        auto_scale_workers(_cfg(3), 1)


def test_trainer_uses_the_rescaled_config(tmp_path):
    cfg = toy_cfg(str(tmp_path), max_iter=3)
    cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.REFERENCE_WORLD_SIZE = 4, 2  # written for 2 processes, run on 1
    trainer = ToyTrainer(cfg)
    assert trainer.cfg.SOLVER.IMS_PER_BATCH == 2 and trainer.max_iter == 6
    assert trainer.cfg.SOLVER.BASE_LR == pytest.approx(0.025)
    assert trainer.optimizer.param_groups[0]["initial_lr"] == pytest.approx(0.025 * 0.1)  # backbone
