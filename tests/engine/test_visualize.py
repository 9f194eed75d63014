"""Drawing results: which task is drawn, and the post-run pictures in visualizations/ and TensorBoard."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from maskformer.data import ClassInfo
from maskformer.engine.visualize import prediction_task, save_prediction_visualizations, visualize_prediction
from maskformer.modeling import build_model
from maskformer.structures import Instances
from tests.helpers.tiny_m2f_shapes import register_tiny_shapes, tiny_cfg

CLASSES = ClassInfo.create(["sky", "car"], thing_ids=[1], colors=[(200, 0, 0), (0, 0, 200)])


def _result() -> dict:
    sem = torch.zeros(2, 20, 30)
    sem[1, :, 15:] = 1.0
    pan = torch.zeros(20, 30, dtype=torch.int32)
    pan[:, 15:] = 1
    masks = torch.zeros(2, 20, 30, dtype=torch.bool)
    masks[0, :10] = masks[1, 10:] = True
    scores, classes = torch.tensor([0.9, 0.2]), torch.tensor([1, 1])
    instances = Instances((20, 30), pred_masks=masks, scores=scores, pred_classes=classes)
    return {
        "sem_seg": sem,
        "panoptic_seg": (pan, [{"id": 1, "category_id": 1, "isthing": True}]),
        "instances": instances,
    }


def test_task_choice_prefers_panoptic_then_instance_then_semantic():
    result = _result()
    assert prediction_task(result) == "panoptic"
    assert prediction_task({k: result[k] for k in ("sem_seg", "instances")}) == "instance"
    assert prediction_task({"sem_seg": result["sem_seg"]}) == "semantic"
    assert prediction_task(result, "semantic") == "semantic"
    with pytest.raises(ValueError, match="no 'panoptic_seg' for task 'panoptic'.*PANOPTIC_ON"):
        prediction_task({"sem_seg": result["sem_seg"]}, "panoptic")
    with pytest.raises(ValueError, match="Unknown task 'depth'"):
        prediction_task(result, "depth")


def test_each_task_draws_its_result():
    image = np.full((20, 30, 3), 100, np.uint8)
    result = _result()
    drawings = {task: visualize_prediction(image, result, CLASSES, task) for task in ("panoptic", "instance")}
    semantic = visualize_prediction(image, result, CLASSES, "semantic")
    assert drawings["panoptic"].shape == drawings["instance"].shape == (341, 512, 3)
    assert semantic.shape[0] == 341 and semantic.shape[1] > 512  # with its legend
    # Instances under the threshold are not drawn: the bottom half (score 0.2) stays grey.
    assert (drawings["instance"][300, 5] == 100).all() and not (drawings["instance"][40, 5] == 100).all()
    assert not (visualize_prediction(image, result, CLASSES, "instance", 0.1)[300, 5] == 100).all()
    both = visualize_prediction(image, result, CLASSES, with_input=True)
    assert both.shape == (341, 512 + 6 + 512, 3) and (both[:, :512] == 100).all()


def test_prediction_images_go_to_files_and_tensorboard(tmp_path):
    dataset = register_tiny_shapes(tmp_path / "datasets")
    cfg = tiny_cfg(opts=["DATASETS.TEST", f"('{dataset}',)", "OUTPUT_DIR", str(tmp_path / "out")])
    cfg.TEST.NUM_VISUALIZATIONS = 2
    model = build_model(cfg)
    paths = save_prediction_visualizations(cfg, model, iteration=7)
    assert len(paths) == 2 and model.training  # mode restored
    picture = cv2.imread(paths[0])
    assert picture.shape == (512, 512 + 6 + 512, 3)
    events = list((tmp_path / "out").glob("events.out.tfevents.*.visualizations"))
    assert len(events) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "out"), size_guidance={"images": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["images"]
    assert len(tags) == 2 and all(t.startswith(f"predictions/{dataset}_") for t in tags)
    image = accumulator.Images(tags[0])[0]
    assert image.step == 7 and (image.height, image.width) == (512, 1030)
    cfg.TEST.NUM_VISUALIZATIONS = 0
    assert save_prediction_visualizations(cfg, model) == []
