import itertools
import logging
import math
from collections import Counter

import pytest
import torch

from maskformer.data import RepeatFactorTrainingSampler, build_train_loader, build_train_sampler
from maskformer.data.samplers import repeat_factors_from_category_frequency

# Category 1 is in every image, 2 in one of four, 3 in one of four (a panoptic-style dict).
DICTS = [
    {"file_name": "a.jpg", "annotations": [{"category_id": 1}, {"category_id": 2}]},
    {"file_name": "b.jpg", "annotations": [{"category_id": 1}]},
    {"file_name": "c.jpg", "annotations": [{"category_id": 1}, {"category_id": 1}]},
    {"file_name": "d.jpg", "segments_info": [{"category_id": 1}, {"category_id": 3}]},
]


def test_repeat_factors_by_hand():
    # f(1) = 1, f(2) = f(3) = 0.25; t = 0.5: r(1) = 1, r(2) = r(3) = sqrt(2) (or 2 without sqrt).
    factors = repeat_factors_from_category_frequency(DICTS, 0.5)
    assert factors.tolist() == pytest.approx([math.sqrt(2), 1.0, 1.0, math.sqrt(2)])
    assert repeat_factors_from_category_frequency(DICTS, 0.5, sqrt=False).tolist() == [2.0, 1.0, 1.0, 2.0]
    assert repeat_factors_from_category_frequency(DICTS, 0.0).tolist() == [1.0] * 4
    empty = [*DICTS, {"file_name": "e.jpg", "annotations": []}]
    assert repeat_factors_from_category_frequency(empty, 0.5)[-1] == 1.0


def test_images_without_categories_are_named():
    with pytest.raises(ValueError, match="'x.png' has neither 'annotations' nor 'segments_info'"):
        repeat_factors_from_category_frequency([{"file_name": "x.png", "sem_seg_file_name": "y"}], 0.5)


def test_epochs_repeat_images_by_their_factor_on_average():
    factors = torch.tensor([1.0, 2.0, 2.5, 1.25])
    sampler = RepeatFactorTrainingSampler(factors, seed=0, rank=0, world_size=1)
    generator = torch.Generator().manual_seed(0)
    totals = Counter()
    for _ in range(2000):
        epoch = Counter(sampler._epoch_order(generator))
        assert epoch[0] == 1 and epoch[1] == 2 and epoch[2] in (2, 3) and epoch[3] in (1, 2)
        totals.update(epoch)
    assert totals[2] / 2000 == pytest.approx(2.5, abs=0.05)
    assert totals[3] / 2000 == pytest.approx(1.25, abs=0.05)


def test_stream_is_sharded_and_resumes_across_epochs_of_varying_length():
    factors = torch.tensor([1.0, 1.5, 2.7, 1.0, 3.2])

    def positions(start=0, rank=0, world=1, n=60):
        sampler = RepeatFactorTrainingSampler(factors, seed=5, start=start, rank=rank, world_size=world)
        return list(itertools.islice(sampler.positions(), n))

    full = positions(n=120)
    assert [p for p, _ in full] == list(range(120))
    assert positions(rank=0, world=2) == full[0::2] and positions(rank=1, world=2) == full[1::2]
    assert positions(start=37, n=40) == full[37:77]


def test_train_loader_uses_repeat_factor_sampler(data_cfg, caplog):
    data_cfg.DATALOADER.SAMPLER_TRAIN = "RepeatFactorTrainingSampler"
    data_cfg.DATALOADER.REPEAT_THRESHOLD = 0.9
    with caplog.at_level(logging.INFO, logger="maskformer.data.build"):
        batches = list(itertools.islice(iter(build_train_loader(data_cfg)), 2))
    assert all(len(b) == 2 for b in batches)
    assert "Repeat factors: mean" in caplog.text
    data_cfg.DATALOADER.SAMPLER_TRAIN = "GroupSampler"
    with pytest.raises(ValueError, match="Unknown DATALOADER.SAMPLER_TRAIN 'GroupSampler'"):
        build_train_sampler(data_cfg, DICTS, seed=0, start=0)
