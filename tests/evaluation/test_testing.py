"""The test-run helpers the trainer and the tools share (maskformer.evaluation.testing)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.evaluation import (
    DatasetEvaluator,
    evaluate_datasets,
    evaluate_with_tta,
    flatten_results,
    save_test_results,
    tta_evaluators,
)


class _Double(nn.Module):
    """Predicts twice each input's ``x``."""

    def forward(self, inputs):
        return [{"pred": 2 * x["x"]} for x in inputs]


class _Sum(DatasetEvaluator):
    """Sums the predictions of a dataset."""

    def reset(self):
        self.total = 0.0

    def process(self, inputs, outputs):
        self.total += sum(float(o["pred"]) for o in outputs)

    def evaluate(self):
        return {"toy": {"sum": self.total}}


_DATA = {"a": [1.0, 2.0], "b": [5.0]}


def _loader(name):
    return [[{"x": torch.tensor(v)}] for v in _DATA[name]]


def test_flatten_results_keeps_numeric_leaves_as_floats():
    nested = {"sem_seg": {"mIoU": 50, "IoU-sky": 1.5, "ok": True, "name": "x"}, "n": 3, "s": {"t": {"m": 2}}}
    assert flatten_results(nested) == {"sem_seg/mIoU": 50.0, "sem_seg/IoU-sky": 1.5, "n": 3.0, "s/t/m": 2.0}
    assert flatten_results({"m": 1}, prefix="p") == {"p/m": 1.0}


def test_evaluate_datasets_builds_lazily_and_unwraps_one_dataset():
    calls = []

    def loader(name):
        calls.append(("loader", name))
        return _loader(name)

    def evaluator(name):
        calls.append(("evaluator", name))
        return _Sum()

    model = _Double()
    both = evaluate_datasets(model, ["a", "b"], loader, evaluator)
    assert both == {"a": {"toy": {"sum": 6.0}}, "b": {"toy": {"sum": 10.0}}}
    assert calls == [("loader", "a"), ("evaluator", "a"), ("loader", "b"), ("evaluator", "b")]
    assert evaluate_datasets(model, ["b"], _loader, [_Sum()]) == {"toy": {"sum": 10.0}}
    with pytest.raises(ValueError, match="1 evaluators given for 2 DATASETS.TEST entries"):
        evaluate_datasets(model, ["a", "b"], _loader, [_Sum()])


def test_save_test_results_writes_json_floats(tmp_path):
    save_test_results({"toy": {"sum": np.float32(1.5), "n": 2}}, str(tmp_path))
    assert json.loads((tmp_path / "inference" / "results.json").read_text()) == {"toy": {"sum": 1.5, "n": 2}}
    save_test_results({"toy": {}}, "")  # no output folder: nothing written, no error


def test_tta_evaluators_are_semantic_only_in_their_own_folder():
    cfg = get_cfg()
    cfg.OUTPUT_DIR = "/out"
    cfg.DATASETS.TEST = ("a", "b")
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    seen = tta_evaluators(cfg, lambda c, name, folder: (c.MODEL.MASK_FORMER.TEST.clone(), name, folder))
    folders = [("a", "/out/inference_TTA/a"), ("b", "/out/inference_TTA/b")]
    assert [(name, folder) for _, name, folder in seen] == folders
    flags = seen[0][0]
    assert (flags.SEMANTIC_ON, flags.INSTANCE_ON, flags.PANOPTIC_ON) == (True, False, False)
    assert cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON  # the caller's config is untouched


def test_evaluate_with_tta_wraps_the_model_and_suffixes_tasks(monkeypatch):
    from maskformer.inference import tta

    wrapped = []

    def fake_tta(cfg, model):
        wrapped.append(model)
        return model

    monkeypatch.setattr(tta, "SemanticSegmentorWithTTA", fake_tta)
    cfg = get_cfg()
    cfg.DATASETS.TEST = ("a",)
    model = _Double()
    assert evaluate_with_tta(cfg, model, _loader, [_Sum()]) == {"toy_TTA": {"sum": 6.0}}
    assert wrapped == [model]
