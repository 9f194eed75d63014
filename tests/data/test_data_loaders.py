import itertools
import logging

import numpy as np
import pytest
import torch

from maskformer.data import (
    DatasetCatalog,
    InferenceSampler,
    TrainingSampler,
    build_test_loader,
    build_train_loader,
    get_dataset_dicts,
)
from maskformer.data import build as build_module
from maskformer.data.build import TrainLoader, per_process_batch_size
from tests.helpers.tiny_shapes import TINY_PREFIX


@pytest.mark.parametrize("size, world", [(0, 2), (1, 3), (7, 2), (10, 4), (6, 3)])
def test_inference_shards_are_disjoint_and_cover(size, world):
    shards = [list(InferenceSampler(size, rank=r, world_size=world)) for r in range(world)]
    assert sorted(itertools.chain(*shards)) == list(range(size))
    assert all(s == list(range(s[0], s[-1] + 1)) for s in shards if s)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_training_order_is_reproducible_and_epochs_are_permutations():
    a = list(itertools.islice(TrainingSampler(10, seed=3, rank=0, world_size=1), 30))
    b = list(itertools.islice(TrainingSampler(10, seed=3, rank=0, world_size=1), 30))
    c = list(itertools.islice(TrainingSampler(10, seed=4, rank=0, world_size=1), 30))
    assert a == b and a != c
    assert all(sorted(a[i : i + 10]) == list(range(10)) for i in (0, 10, 20))
    assert list(itertools.islice(TrainingSampler(4, shuffle=False, rank=0, world_size=1), 6)) == [
        0,
        1,
        2,
        3,
        0,
        1,
    ]


def test_processes_split_the_global_stream_and_start_resumes_it():
    full = list(itertools.islice(TrainingSampler(7, seed=1, rank=0, world_size=1).positions(), 40))
    r0 = list(itertools.islice(TrainingSampler(7, seed=1, rank=0, world_size=2).positions(), 20))
    r1 = list(itertools.islice(TrainingSampler(7, seed=1, rank=1, world_size=2).positions(), 20))
    assert r0 == full[0::2] and r1 == full[1::2]
    resumed = list(
        itertools.islice(TrainingSampler(7, seed=1, start=23, rank=0, world_size=1).positions(), 10)
    )
    assert resumed == full[23:33]


def test_total_batch_must_split_over_processes():
    assert per_process_batch_size(16, 4) == 4
    with pytest.raises(ValueError, match="SOLVER.IMS_PER_BATCH \\(6\\).*4 processes"):
        per_process_batch_size(6, 4)


def _fingerprint(batch):
    return [(d["file_name"], d["image"].sum().item(), d["instances"].gt_classes.tolist()) for d in batch]


def test_train_loader_batches_and_resume(data_cfg):
    data_cfg.INPUT.COLOR_AUG_SSD = True
    batches = list(itertools.islice(iter(build_train_loader(data_cfg)), 4))
    assert all(len(b) == 2 for b in batches)
    assert all(isinstance(d["image"], torch.Tensor) and "instances" in d for b in batches for d in b)
    again = list(itertools.islice(iter(build_train_loader(data_cfg)), 4))
    assert [_fingerprint(b) for b in batches] == [_fingerprint(b) for b in again]
    resumed = list(itertools.islice(iter(build_train_loader(data_cfg, start_iter=2)), 2))
    assert [_fingerprint(b) for b in resumed] == [_fingerprint(b) for b in batches[2:]]


def test_workers_do_not_change_the_data(data_cfg):
    data_cfg.INPUT.COLOR_AUG_SSD = True
    single = list(itertools.islice(iter(build_train_loader(data_cfg)), 3))
    data_cfg.DATALOADER.NUM_WORKERS = 2
    multi = list(itertools.islice(iter(build_train_loader(data_cfg)), 3))
    assert [_fingerprint(b) for b in single] == [_fingerprint(b) for b in multi]


def test_train_loader_per_process_batch_with_two_processes(data_cfg, monkeypatch):
    monkeypatch.setattr(build_module.comm, "get_world_size", lambda: 2)
    data_cfg.SOLVER.IMS_PER_BATCH = 4
    monkeypatch.setattr("maskformer.data.samplers.comm.get_world_size", lambda: 2)
    monkeypatch.setattr("maskformer.data.samplers.comm.get_rank", lambda: 1)
    batch = next(iter(build_train_loader(data_cfg)))
    assert len(batch) == 2
    data_cfg.SOLVER.IMS_PER_BATCH = 3
    with pytest.raises(ValueError, match="IMS_PER_BATCH"):
        build_train_loader(data_cfg)


def test_aspect_ratio_grouping():
    samples = [{"image": torch.zeros(3, 4, 8 if i % 3 else 2)} for i in range(12)]
    for batch in itertools.islice(iter(TrainLoader(samples, 2, True)), 5):
        assert len({d["image"].shape[-1] > d["image"].shape[-2] for d in batch}) == 1
    mixed = next(iter(TrainLoader(samples, 3, False)))
    assert len({d["image"].shape[-1] for d in mixed}) == 2


def test_test_loader_shards_and_batch_of_one(data_cfg, monkeypatch):
    name = f"{TINY_PREFIX}_val_panoptic"
    total = len(DatasetCatalog.get(name))
    seen = []
    for rank in range(2):
        monkeypatch.setattr("maskformer.data.samplers.comm.get_rank", lambda r=rank: r)
        monkeypatch.setattr("maskformer.data.samplers.comm.get_world_size", lambda: 2)
        for batch in build_test_loader(data_cfg, name):
            assert isinstance(batch, list) and len(batch) == 1
            seen.append(batch[0]["file_name"])
    assert sorted(seen) == sorted(d["file_name"] for d in DatasetCatalog.get(name)) and len(seen) == total


def test_filter_empty_annotations_logs_the_count(caplog):
    name = "_test_filter_empty"
    if name not in DatasetCatalog:
        DatasetCatalog.register(
            name,
            lambda: [
                {"file_name": "a", "annotations": [{"iscrowd": 0}]},
                {"file_name": "b", "annotations": []},
                {"file_name": "c", "annotations": [{"iscrowd": 1}]},
            ],
        )
    with caplog.at_level(logging.INFO, logger="maskformer.data.build"):
        kept = get_dataset_dicts([name])
    assert [d["file_name"] for d in kept] == ["a"] and "Removed 2 images" in caplog.text
    assert len(get_dataset_dicts(name, filter_empty=False)) == 3
    with pytest.raises(KeyError, match="not registered"):
        get_dataset_dicts(["no_such_dataset"])
    assert np.isfinite(len(kept))


def test_serialized_list_round_trip():
    from maskformer.data.serialized_list import SerializedList

    items = [{"file_name": "a", "annotations": [{"bbox": [1, 2, 3, 4]}]}, {"file_name": "b"}, {}]
    stored = SerializedList(items)
    assert len(stored) == 3 and [stored[i] for i in range(3)] == items and stored[-1] == {}
    stored[0]["file_name"] = "changed"  # every access is a fresh copy
    assert stored[0]["file_name"] == "a"
    with pytest.raises(IndexError):
        stored[3]
