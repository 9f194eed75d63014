"""Progress reporting hooks (early first write, evaluation timing) and run-folder protection."""

from __future__ import annotations

import argparse

import pytest

from maskformer.config import get_cfg
from maskformer.engine.defaults import RunFolderError, previous_run_files, resolve_output_dir
from maskformer.engine.hooks import EvalHook, PeriodicWriter
from maskformer.engine.train_loop import TrainerBase
from maskformer.utils.events import EventWriter


class _Counting(TrainerBase):
    def run_step(self) -> None:
        self.storage.put_scalar("x", float(self.iter))


class _IterationsWriter(EventWriter):
    def __init__(self, trainer: TrainerBase) -> None:
        self.trainer = trainer
        self.at: list[int] = []

    def write(self) -> None:
        self.at.append(self.trainer.storage.iter)


def test_first_line_comes_early_then_every_period():
    trainer = _Counting()
    writer = _IterationsWriter(trainer)
    trainer.register_hooks([EvalHook(0, lambda: {"t": {"m": 1.0}}), PeriodicWriter([writer], 20, 5)])
    trainer.train(100, 145)  # a resumed run: the early line is its 5th iteration
    assert writer.at == [104, 119, 139, 144, 145]
    assert trainer.storage.history("eval_time").latest() >= 0.0
    with pytest.raises(ValueError, match="LOG_PERIOD must be > 0"):
        PeriodicWriter([writer], 0)


def _args(**kwargs) -> argparse.Namespace:
    return argparse.Namespace(**{"eval_only": False, "resume": False, "new_run": False, **kwargs})


def test_a_new_run_never_writes_into_another_runs_folder(tmp_path):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.freeze()
    assert resolve_output_dir(cfg, _args()) is cfg  # empty folder
    (tmp_path / "config.yaml").write_text("")
    (tmp_path / "log.txt").write_text("")
    assert resolve_output_dir(cfg, _args()) is cfg  # no checkpoint, metrics or events yet
    (tmp_path / "events.out.tfevents.1.host").write_text("")
    (tmp_path / "model_0000009.pth").write_text("")
    assert previous_run_files(str(tmp_path)) == ["model_0000009.pth", "events.out.tfevents.1.host"]
    with pytest.raises(RunFolderError, match=r"holds another run \(model_0000009.pth, events.out"):
        resolve_output_dir(cfg, _args())
    # --resume continues the run there: the Checkpointer picks the newest loadable checkpoint
    # (last_checkpoint may be missing) or refuses when none loads.
    assert resolve_output_dir(cfg, _args(resume=True)) is cfg
    assert resolve_output_dir(cfg, _args(eval_only=True)) is cfg
    sub = resolve_output_dir(cfg, _args(new_run=True))
    assert sub.OUTPUT_DIR.startswith(str(tmp_path / "run_")) and sub.is_frozen()
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    assert resolve_output_dir(cfg, _args(resume=True)) is cfg
