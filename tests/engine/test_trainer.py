"""Trainer end to end on a toy model: outputs, hooks, and exact resume."""

import json
import os

import pytest
import torch

from maskformer.engine import Trainer
from maskformer.evaluation import DatasetEvaluator, format_results_table
from maskformer.utils.env import seed_all_rng
from tests.helpers.toy_engine import ToyTrainer, run_interrupted_and_straight, toy_cfg, toy_stream


def _params(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_resume_after_interruption_is_bit_identical(tmp_path):
    straight, resumed = run_interrupted_and_straight(tmp_path, toy_cfg)
    expected, got = _params(straight), _params(resumed)
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), name
    assert resumed.scheduler.state_dict() == straight.scheduler.state_dict()


def test_outputs_metrics_and_eval_results(tmp_path):
    seed_all_rng(0)
    cfg = toy_cfg(str(tmp_path), max_iter=4)
    cfg.TEST.EVAL_PERIOD = 2
    trainer = ToyTrainer(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    assert results == {"toy": {"score": 42.0, "count": 3}}
    files = sorted(os.listdir(tmp_path))
    assert {"last_checkpoint", "metrics.json", "model_0000002.pth", "model_final.pth"} <= set(files)
    lines = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    assert [d["iteration"] for d in lines] == sorted({d["iteration"] for d in lines})
    by_iter = {d["iteration"]: d for d in lines}
    assert {"total_loss", "loss_a", "loss_b", "lr", "time", "data_time"} <= set(by_iter[3])
    # Evaluation after iteration 1 (EVAL_PERIOD 2) and after training (storage at iteration 4).
    assert [i for i, d in by_iter.items() if "toy/score" in d] == [1, 4]
    assert by_iter[4]["toy/score"] == 42.0
    assert trainer.storage.history("toy/count").latest() == 3


def test_weights_only_start_and_final_checkpoint(tmp_path):
    seed_all_rng(0)
    trainer = ToyTrainer(toy_cfg(str(tmp_path / "a"), max_iter=2))
    trainer.train()
    final = str(tmp_path / "a" / "model_final.pth")
    cfg = toy_cfg(str(tmp_path / "b"), max_iter=2)
    cfg.MODEL.WEIGHTS = final
    other = ToyTrainer(cfg)
    other.resume_or_load(resume=True)  # nothing to resume in b: loads MODEL.WEIGHTS only
    assert other.start_iter == 0
    assert all(torch.equal(a, b) for a, b in zip(other.model.parameters(), trainer.model.parameters()))
    assert not other.optimizer.state


def test_amp_bfloat16_on_cpu_and_float16_fallback(tmp_path, package_log):
    seed_all_rng(0)
    cfg = toy_cfg(str(tmp_path), max_iter=2)
    cfg.SOLVER.AMP.ENABLED = True
    cfg.SOLVER.AMP.PRECISION = "bfloat16"
    trainer = ToyTrainer(cfg)
    assert type(trainer._trainer).__name__ == "AMPTrainer"
    trainer.train()
    assert trainer.storage.history("total_loss").latest() > 0
    cfg.SOLVER.AMP.PRECISION = "float16"
    assert type(ToyTrainer(cfg)._trainer).__name__ == "SimpleTrainer"
    assert "float16 needs CUDA" in package_log.text


class _MeanEvaluator(DatasetEvaluator):
    """Averages the toy predictions."""

    def reset(self):
        self.values = []

    def process(self, inputs, outputs):
        self.values += [float(o["pred"].sum()) for o in outputs]

    def evaluate(self):
        return {"toy_task": {"mean": sum(self.values) / len(self.values), "n": len(self.values)}}


class _EvalTrainer(ToyTrainer):
    test = classmethod(Trainer.test.__func__)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        count = {"set_a": 3, "set_b": 2}[dataset_name]
        return [batch[:1] for batch, _ in zip(toy_stream(), range(count))]


def test_test_runs_every_dataset_and_saves_results(tmp_path):
    seed_all_rng(0)
    cfg = toy_cfg(str(tmp_path))
    cfg.DATASETS.TEST = ("set_a",)
    model = _EvalTrainer.build_model(cfg)
    single = _EvalTrainer.test(cfg, model, evaluators=[_MeanEvaluator()])
    assert single["toy_task"]["n"] == 3  # one dataset: its results directly (Detectron2's convention)
    assert model.training  # inference_on_dataset restores the training mode
    cfg.DATASETS.TEST = ("set_a", "set_b")
    both = _EvalTrainer.test(cfg, model, evaluators=[_MeanEvaluator(), _MeanEvaluator()])
    assert both["set_a"]["toy_task"]["n"] == 3 and both["set_b"]["toy_task"]["n"] == 2
    saved = json.loads((tmp_path / "inference" / "results.json").read_text())
    assert saved["set_b"]["toy_task"]["n"] == 2
    with pytest.raises(ValueError, match="1 evaluators given for 2 DATASETS.TEST"):
        _EvalTrainer.test(cfg, model, evaluators=[_MeanEvaluator()])


def test_results_table_is_detectron2_copypaste():
    table = format_results_table({"sem_seg": {"mIoU": 50.0, "IoU-sky": 1.0, "n": 3}, "note": "x"})
    assert table.splitlines() == [
        "copypaste: Task: sem_seg",
        "copypaste: mIoU,n",
        "copypaste: 50.0000,3.0000",
        "copypaste: note=x",
    ]


def test_test_time_augmentation_results_get_a_suffix(tmp_path, monkeypatch):
    from maskformer.inference import tta
    wrapped = []

    def fake_tta(cfg, model):
        wrapped.append(model)
        return model

    monkeypatch.setattr(tta, "SemanticSegmentorWithTTA", fake_tta)
    cfg = toy_cfg(str(tmp_path))
    cfg.DATASETS.TEST = ("set_a",)
    cfg.TEST.AUG.ENABLED = True
    model = _EvalTrainer.build_model(cfg)
    results = _EvalTrainer.test(cfg, model, evaluators=[_MeanEvaluator()])
    assert wrapped == [model]
    assert set(results) == {"toy_task", "toy_task_TTA"}
    assert results["toy_task_TTA"]["n"] == 3


def test_killed_while_writing_the_final_checkpoint_resume_writes_it(tmp_path):
    seed_all_rng(0)
    trainer = ToyTrainer(toy_cfg(str(tmp_path)))  # checkpoints after iterations 2 and 5, and final
    trainer.train()
    final = tmp_path / "model_final.pth"
    expected = torch.load(final, weights_only=True)["model"]
    final.unlink()  # what a kill during its write leaves: last_checkpoint names model_0000005.pth
    (tmp_path / "last_checkpoint").write_text("model_0000005.pth")
    resumed = ToyTrainer(toy_cfg(str(tmp_path)))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 6
    resumed.train()
    got = torch.load(final, weights_only=True)["model"]
    assert all(torch.equal(got[k], expected[k]) for k in expected)
