"""Distributed evaluation with 2 gloo processes on CPU equals single-process evaluation exactly."""

import gc
import json
import math
import socket
import weakref

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from torch import nn

from maskformer.evaluation import (
    COCOInstanceEvaluator,
    COCOPanopticEvaluator,
    SemSegEvaluator,
    inference_on_dataset,
)
from maskformer.utils import comm
from tests.helpers.coco_instances import TO_DATASET as INSTANCE_TO_DATASET
from tests.helpers.coco_instances import pred_instances, rect, write_instance_gt
from tests.helpers.coco_panoptic import (
    STUFF_TO_DATASET,
    THING_TO_DATASET,
    make_panoptic_gt,
    panoptic_output,
    perturb_panoptic,
    write_panoptic_gt,
)

NUM_IMAGES = 6
H, W = 24, 32  # the panoptic fixture's size


class ReplayModel(nn.Module):
    """Returns precomputed outputs for each input's image_id (stands in for a real model)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs

    def forward(self, inputs):
        return [self.outputs[inp["image_id"]] for inp in inputs]


def _build_data(tmp):
    """Ground-truth files of three kinds and matching model outputs for every image."""
    rng = np.random.default_rng(3)
    gts = [make_panoptic_gt(rng) for _ in range(NUM_IMAGES)]
    pan_json, pan_folder = write_panoptic_gt(tmp, gts)
    outputs, instance_gts, inputs = {}, [], []
    for i, (ids, segments) in enumerate(gts):
        out = panoptic_output(*perturb_panoptic(ids, segments, rng))
        sem_gt = rng.integers(0, 4, (H, W)).astype(np.uint8)
        sem_gt[rng.random((H, W)) < 0.1] = 255
        Image.fromarray(sem_gt).save(tmp / f"sem_{i}.png")
        out["sem_seg"] = torch.from_numpy(rng.random((4, H, W))).float()
        masks = [rect(*rng.integers(0, 12, 2), *rng.integers(4, 12, 2)) for _ in range(2)]
        instance_gts.append([(m, 3) for m in masks])
        shifted = [np.roll(m, int(rng.integers(0, 3)), axis=1) for m in masks]
        out["instances"] = pred_instances(shifted, rng.random(2).tolist(), [0, 1])
        outputs[i] = out
        inputs.append(
            {"image_id": i, "file_name": f"{i:04d}.jpg", "sem_seg_file_name": str(tmp / f"sem_{i}.png")}
        )
    return inputs, outputs, (pan_json, pan_folder, write_instance_gt(tmp, instance_gts))


def _evaluate(tmp, out_dir, rank, world):
    """Each process evaluates images rank, rank + world, ..."""
    inputs, outputs, (pan_json, pan_folder, inst_json) = _build_data(tmp)
    evaluators = [
        SemSegEvaluator(["a", "b", "c", "d"], output_dir=out_dir),
        COCOPanopticEvaluator(pan_json, pan_folder, THING_TO_DATASET, STUFF_TO_DATASET, output_dir=out_dir),
        COCOInstanceEvaluator(inst_json, INSTANCE_TO_DATASET, output_dir=out_dir),
    ]
    loader = [[inp] for inp in inputs[rank::world]]
    return inference_on_dataset(ReplayModel(outputs), loader, evaluators)


def _worker(rank, world, port, tmp):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    group = weakref.ref(dist.group.WORLD)
    try:
        results = _evaluate(tmp / f"data{rank}", str(tmp / "out_dist"), rank, world)
        with open(tmp / f"results_rank{rank}.json", "w") as f:
            json.dump(results, f)
        dist.barrier()  # rank 1 must not close the connections while rank 0 still reads its results
    finally:
        comm.destroy_process_group()
    # A group that outlives its destruction keeps gloo's worker threads running into interpreter
    # shutdown, where they can abort the process (the gather above used the group).
    gc.collect()
    assert group() is None, "the process group outlived comm.destroy_process_group()"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return (math.isnan(a) and math.isnan(b)) if isinstance(a, float) and math.isnan(a) else a == b


@pytest.mark.dist
def test_two_gloo_processes_equal_single_process(tmp_path):
    for rank in range(2):
        (tmp_path / f"data{rank}").mkdir()
    (tmp_path / "single").mkdir()
    mp.spawn(_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    single = json.loads(json.dumps(_evaluate(tmp_path / "single", str(tmp_path / "out_single"), 0, 1)))
    distributed = json.loads((tmp_path / "results_rank0.json").read_text())
    assert json.loads((tmp_path / "results_rank1.json").read_text()) == {}
    assert set(single) == {"sem_seg", "panoptic_seg", "bbox", "segm"}
    assert _same(single, distributed)
    pred_single = json.loads((tmp_path / "out_single" / "panoptic_predictions.json").read_text())
    pred_dist = json.loads((tmp_path / "out_dist" / "panoptic_predictions.json").read_text())
    assert pred_single["annotations"] == pred_dist["annotations"]
