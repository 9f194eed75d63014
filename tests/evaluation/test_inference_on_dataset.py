"""inference_on_dataset and DatasetEvaluators."""

import logging

import pytest
import torch
from torch import nn

from maskformer.evaluation import DatasetEvaluator, DatasetEvaluators, inference_on_dataset


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls = []

    def forward(self, inputs):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return [{"value": self.w * inp["x"] * 2} for inp in inputs]


class SumEvaluator(DatasetEvaluator):
    def __init__(self, task="sum"):
        self.task = task
        self.reset()

    def reset(self):
        self.total = 0.0
        self.count = 0

    def process(self, inputs, outputs):
        for out in outputs:
            self.total += float(out["value"])
            self.count += 1

    def evaluate(self):
        return {self.task: {"total": self.total, "count": self.count}}


def _loader(n=7):
    return [[{"x": float(i)}] for i in range(n)]


def test_runs_in_eval_mode_without_grad_and_restores_training(caplog, monkeypatch):
    # setup_logger (run by other tests in the same process) stops propagation to the root logger,
    # where caplog listens.
    monkeypatch.setattr(logging.getLogger("maskformer"), "propagate", True)
    model = Doubler().train()
    evaluator = SumEvaluator()
    evaluator.total = 123.0  # stale state must be reset
    with caplog.at_level(logging.INFO, logger="maskformer.evaluation.evaluator"):
        results = inference_on_dataset(model, _loader(), evaluator)
    assert results == {"sum": {"total": 2.0 * sum(range(7)), "count": 7}}
    assert model.training
    assert all(call == (False, False) for call in model.calls)
    assert "Total inference time" in caplog.text
    assert "s / iter per device" in caplog.text


def test_eval_mode_is_kept_and_list_of_evaluators_is_combined():
    model = Doubler().eval()
    results = inference_on_dataset(model, _loader(3), [SumEvaluator("a"), SumEvaluator("b")])
    assert set(results) == {"a", "b"}
    assert not model.training


def test_no_evaluator_returns_empty_dict():
    assert inference_on_dataset(Doubler(), _loader(2), None) == {}


def test_duplicate_task_names_raise():
    evaluators = DatasetEvaluators([SumEvaluator(), SumEvaluator()])
    with pytest.raises(KeyError, match="sum"):
        evaluators.evaluate()


def test_training_mode_restored_after_an_error():
    class Failing(Doubler):
        def forward(self, inputs):
            raise RuntimeError("boom")

    model = Failing().train()
    with pytest.raises(RuntimeError):
        inference_on_dataset(model, _loader(2), SumEvaluator())
    assert model.training
