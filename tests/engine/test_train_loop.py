"""TrainerBase hook order, SimpleTrainer / AMPTrainer steps and metric logging."""

import math
import os

import pytest
import torch
from torch import nn

from maskformer.checkpoint import Checkpointer
from maskformer.engine import AMPTrainer, HookBase, SimpleTrainer, TrainerBase
from maskformer.engine.hooks import EvalHook, PeriodicCheckpointer, PeriodicWriter
from maskformer.utils.events import EventStorage, EventWriter


class _Recorder(HookBase):
    def __init__(self, log: list) -> None:
        self.log = log

    def before_train(self):
        self.log.append("before_train")

    def before_step(self):
        self.log.append(f"before_step{self.trainer.iter}")

    def after_step(self):
        self.log.append(f"after_step{self.trainer.iter}")

    def after_train(self):
        self.log.append(f"after_train{self.trainer.iter}")


class _Counting(TrainerBase):
    def run_step(self):
        self.storage.put_scalar("x", float(self.iter))


def test_hooks_run_in_order_with_a_back_reference():
    log: list = []
    trainer = _Counting()
    trainer.register_hooks([_Recorder(log), None])
    trainer.train(2, 4)
    assert log == [
        "before_train",
        "before_step2",
        "after_step2",
        "before_step3",
        "after_step3",
        "after_train4",
    ]
    assert trainer.storage.history("x").values() == [(2.0, 2), (3.0, 3)]


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0]))

    def forward(self, batch):
        return {"loss_a": (self.w * batch).sum(), "loss_b": self.w.square().sum()}


def test_simple_step_sums_losses_clips_and_logs():
    model = _Linear()
    batches = [torch.tensor([1.0, 1.0])]
    clipped = []
    trainer = SimpleTrainer(model, batches, torch.optim.SGD(model.parameters(), lr=0.5), clipped.append)
    with EventStorage() as storage:
        trainer.run_step()
    # grad = batch + 2 w = [3, -3]; w - 0.5 * grad
    assert model.w.tolist() == [-0.5, -0.5]
    assert len(clipped) == 1
    assert storage.history("total_loss").latest() == pytest.approx(-1.0 + 5.0)
    assert storage.history("loss_a").latest() == -1.0
    assert storage.history("data_time").latest() >= 0


def test_non_finite_loss_is_reported():
    model = _Linear()
    trainer = SimpleTrainer(
        model, [torch.tensor([math.inf, 0.0])], torch.optim.SGD(model.parameters(), lr=0.1)
    )
    with EventStorage(), pytest.raises(FloatingPointError, match="iteration=0"):
        trainer.run_step()


def test_amp_precisions_on_cpu():
    model = _Linear()
    with pytest.raises(ValueError, match="float16 needs a CUDA device.*bfloat16"):
        AMPTrainer(model, [], torch.optim.SGD(model.parameters(), lr=0.1), precision="float16")
    with pytest.raises(ValueError, match="PRECISION='half'"):
        AMPTrainer(model, [], torch.optim.SGD(model.parameters(), lr=0.1), precision="half")
    trainer = AMPTrainer(
        model, [torch.ones(2)], torch.optim.SGD(model.parameters(), lr=0.5), precision="bfloat16"
    )
    assert trainer.grad_scaler is None
    with EventStorage():
        trainer.run_step()
    assert model.w.tolist() == [-0.5, -0.5]  # exact in bf16 for these values


class _Saver:
    def __init__(self) -> None:
        self.saved: list = []

    def save(self, name, **extra):
        self.saved.append((name, extra["iteration"]))
        return None


class _CountingWriter(EventWriter):
    def __init__(self) -> None:
        self.writes = 0
        self.closed = False

    def write(self):
        self.writes += 1

    def close(self):
        self.closed = True


def test_periodic_checkpointer_eval_and_writer_schedules():
    saver, writer, evals = _Saver(), _CountingWriter(), []
    trainer = _Counting()
    trainer.register_hooks(
        [
            PeriodicCheckpointer(saver, period=3, max_iter=7),
            EvalHook(4, lambda: evals.append(trainer.iter) or {"task": {"m": 1.0}}),
            PeriodicWriter([writer], period=2),
        ]
    )
    trainer.train(0, 7)
    assert saver.saved == [("model_0000002", 2), ("model_0000005", 5), ("model_final", 6)]
    assert evals == [3, 7]  # after iteration 3 (4 done) and after training, not twice at the end
    assert writer.writes == 4 + 1 and writer.closed  # iterations 1, 3, 5, 6 and the final write
    assert trainer.storage.history("task/m").latest() == 1.0


def test_bad_hook_arguments():
    with pytest.raises(ValueError, match="CHECKPOINT_PERIOD must be > 0"):
        PeriodicCheckpointer(_Saver(), period=0)


def test_periodic_checkpointer_keeps_the_newest(tmp_path):
    checkpointer = Checkpointer(nn.Linear(1, 1), str(tmp_path))
    trainer = _Counting()
    trainer.register_hooks([PeriodicCheckpointer(checkpointer, period=1, max_iter=4, max_to_keep=2)])
    trainer.train(0, 4)
    files = sorted(os.listdir(tmp_path))
    assert files == ["last_checkpoint", "model_0000002.pth", "model_0000003.pth", "model_final.pth"]


def _nan_grad_on_second_step(model: _Linear):
    """A finite loss whose gradient is NaN at the second backward only (an injected fault)."""
    calls = []
    model.w.register_hook(lambda g: g * float("nan") if calls.append(1) or len(calls) == 2 else g)


def test_non_finite_gradients_skip_the_step_and_are_counted():
    model = _Linear()
    _nan_grad_on_second_step(model)
    batches = [torch.tensor([1.0, 1.0])] * 3
    trainer = SimpleTrainer(model, batches, torch.optim.SGD(model.parameters(), lr=0.5))
    with EventStorage() as storage:
        trainer.run_step()
        assert model.w.tolist() == [-0.5, -0.5]
        assert "nonfinite_grad_skips" not in storage.histories()
        trainer.iter = 1
        trainer.run_step()  # loss finite, gradient NaN: no step
        assert model.w.tolist() == [-0.5, -0.5]
        assert storage.history("nonfinite_grad_skips").latest() == 1
        assert math.isfinite(storage.history("total_loss").latest())
        trainer.run_step()  # grad = 1 + 2 w = [0, 0]
        assert model.w.tolist() == [-0.5, -0.5] and trainer.nonfinite_grad_skips == 1
    assert trainer.state_dict()["nonfinite_grad_skips"] == 1
    other = SimpleTrainer(_Linear(), [], torch.optim.SGD(model.parameters(), lr=0.5))
    other.load_state_dict(trainer.state_dict())
    assert other.nonfinite_grad_skips == 1


def test_non_finite_gradients_raise_naming_the_parameters():
    model = _Linear()
    _nan_grad_on_second_step(model)
    trainer = SimpleTrainer(
        model, [torch.ones(2)] * 2, torch.optim.SGD(model.parameters(), lr=0.5), nonfinite_grads="raise"
    )
    with EventStorage(), pytest.raises(FloatingPointError, match="iteration 0 in 1 parameters: w"):
        trainer.run_step()
        trainer.run_step()
    assert model.w.tolist() == [-0.5, -0.5]  # only the finite first step was taken
    with pytest.raises(ValueError, match="NONFINITE_GRADS = 'ignore' is not one of"):
        SimpleTrainer(model, [], torch.optim.SGD(model.parameters(), lr=0.5), nonfinite_grads="ignore")
