"""Cityscapes evaluators through cityscapesscripts (installed by the README's test install)."""

import numpy as np
import pytest
import torch
from PIL import Image

from maskformer.evaluation.cityscapes import CityscapesInstanceEvaluator, CityscapesSemSegEvaluator
from maskformer.structures import Instances

H, W = 64, 128
# Cityscapes label ids: road 7 (train id 0), person 24 (train id 11), car 26 (train id 13).
ROAD, PERSON, CAR = 7, 24, 26


def _frame(i):
    return f"testcity_000000_{i:06d}"


def _write_gt(root, n):
    """Label-id and instance-id PNGs: road everywhere, one car and one person per frame."""
    city = root / "gtFine" / "val" / "testcity"
    city.mkdir(parents=True)
    frames = []
    for i in range(n):
        labels = np.full((H, W), ROAD, np.uint8)
        inst = np.full((H, W), ROAD, np.uint16)
        labels[10:40, 10 + i : 60 + i] = CAR
        inst[10:40, 10 + i : 60 + i] = CAR * 1000
        labels[20:60, 80:100] = PERSON
        inst[20:60, 80:100] = PERSON * 1000 + 1
        Image.fromarray(labels).save(city / f"{_frame(i)}_gtFine_labelIds.png")
        Image.fromarray(inst).save(city / f"{_frame(i)}_gtFine_instanceIds.png")
        frames.append((labels, inst))
    return str(root / "gtFine" / "val"), frames


def test_semantic_perfect_prediction(tmp_path):
    gt_dir, frames = _write_gt(tmp_path, 2)
    evaluator = CityscapesSemSegEvaluator(gt_dir, output_dir=str(tmp_path / "out"))
    to_train = {ROAD: 0, PERSON: 11, CAR: 13}
    for i, (labels, _) in enumerate(frames):
        train = np.vectorize(to_train.get)(labels)
        scores = torch.nn.functional.one_hot(torch.from_numpy(train), 19).permute(2, 0, 1).float()
        evaluator.process([{"file_name": f"/x/{_frame(i)}_leftImg8bit.png"}], [{"sem_seg": scores}])
    results = evaluator.evaluate()["sem_seg"]
    assert results["IoU"] == pytest.approx(100.0)
    assert results["IoU_sup"] == pytest.approx(100.0)


def test_instance_perfect_and_missing(tmp_path):
    gt_dir, frames = _write_gt(tmp_path, 2)
    evaluator = CityscapesInstanceEvaluator(gt_dir, ["person", "car"])
    for i, (_, inst) in enumerate(frames):
        masks = torch.from_numpy(np.stack([inst == PERSON * 1000 + 1, inst == CAR * 1000]))
        instances = Instances(
            (H, W), pred_masks=masks, scores=torch.tensor([0.9, 0.8]), pred_classes=torch.tensor([0, 1])
        )
        evaluator.process([{"file_name": f"{_frame(i)}_leftImg8bit.png"}], [{"instances": instances}])
    assert evaluator.evaluate()["segm"]["AP"] == pytest.approx(100.0)
    evaluator.reset()
    for i in range(2):
        empty = Instances(
            (H, W),
            pred_masks=torch.zeros(0, H, W, dtype=torch.bool),
            scores=torch.zeros(0),
            pred_classes=torch.zeros(0, dtype=torch.int64),
        )
        evaluator.process([{"file_name": f"{_frame(i)}_leftImg8bit.png"}], [{"instances": empty}])
    assert evaluator.evaluate()["segm"]["AP"] == pytest.approx(0.0)


def test_instance_evaluation_writes_only_into_its_output_folder(tmp_path, monkeypatch):
    gt_dir, frames = _write_gt(tmp_path, 1)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    evaluator = CityscapesInstanceEvaluator(gt_dir, ["person", "car"], output_dir=str(tmp_path / "out"))
    masks = torch.from_numpy(np.stack([frames[0][1] == PERSON * 1000 + 1]))
    scores, classes = torch.tensor([0.9]), torch.tensor([0])
    instances = Instances((H, W), pred_masks=masks, scores=scores, pred_classes=classes)
    evaluator.process([{"file_name": f"{_frame(0)}_leftImg8bit.png"}], [{"instances": instances}])
    evaluator.evaluate()
    assert list(workdir.iterdir()) == []  # cityscapesscripts writes matches.json into the working dir
    assert (tmp_path / "out" / "cityscapes_instance" / "matches.json").is_file()
