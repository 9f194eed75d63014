"""Train / test data loaders: dataset dicts -> mapped samples -> batches (lists of dicts)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch.utils.data as torchdata

from maskformer.data.catalog import DatasetCatalog
from maskformer.data.mappers import build_mapper
from maskformer.data.samplers import (
    InferenceSampler,
    RepeatFactorTrainingSampler,
    TrainingSampler,
    repeat_factors_from_category_frequency,
)
from maskformer.data.serialized_list import SerializedList
from maskformer.utils import comm

__all__ = [
    "build_test_loader",
    "build_train_loader",
    "build_train_sampler",
    "get_dataset_dicts",
    "per_process_batch_size",
    "sample_rng",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_SEED = 0  # used when cfg.SEED < 0, so runs are reproducible by default
_AUGMENTATION_STREAM = 1  # keeps augmentation RNGs apart from the sampler's permutation RNG


def _as_is(batch: Any) -> Any:
    """The loaders' collate function: samples and batches stay Python objects (lists of dicts)."""
    return batch


def sample_rng(base_seed: int, position: int) -> np.random.Generator:
    """The augmentation RNG of the sample at ``position`` of the training stream."""
    return np.random.default_rng([base_seed, _AUGMENTATION_STREAM, position])


def _filter_images_without_annotations(dicts: list[dict]) -> list[dict]:
    """Drops instance images without any non-crowd annotation (Detectron2's FILTER_EMPTY_ANNOTATIONS)."""
    kept = [
        d for d in dicts if "annotations" not in d or any(not a.get("iscrowd", 0) for a in d["annotations"])
    ]
    if len(kept) < len(dicts):
        logger.info(
            "Removed %d images without non-crowd annotations; %d left.", len(dicts) - len(kept), len(kept)
        )
    return kept


def get_dataset_dicts(names: list[str] | tuple[str, ...] | str, filter_empty: bool = True) -> list[dict]:
    """Concatenated dataset dicts of the named datasets.

    Raises:
        KeyError: for an unregistered name (with close matches); ValueError: for an empty dataset.
    """
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("No dataset given: set DATASETS.TRAIN / DATASETS.TEST.")
    dicts = []
    for name in names:
        part = DatasetCatalog.get(name)
        if not part:
            raise ValueError(f"Dataset '{name}' is empty; check its files (see datasets/README.md).")
        dicts.extend(part)
    return _filter_images_without_annotations(dicts) if filter_empty else dicts


def per_process_batch_size(total: int, world_size: int) -> int:
    """``SOLVER.IMS_PER_BATCH`` is the total over all processes; it must split evenly."""
    if total <= 0 or total % world_size != 0:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH ({total}) is the total batch over all {world_size} processes and must be "
            f"a positive multiple of it; set it to e.g. {max(1, total // world_size) * world_size}."
        )
    return total // world_size


class _MappedStream(torchdata.IterableDataset):
    """This process's training samples, mapped; workers split the stream round-robin so that the
    DataLoader (which reads workers in turn) returns samples in stream order."""

    def __init__(
        self, dicts: SerializedList, mapper: Callable, sampler: TrainingSampler, base_seed: int
    ) -> None:
        self.dicts, self.mapper, self.sampler, self.base_seed = dicts, mapper, sampler, base_seed

    def __iter__(self) -> Iterator[dict]:
        info = torchdata.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for i, (position, index) in enumerate(self.sampler.positions()):
            if i % num_workers == worker:
                yield self.mapper(self.dicts[index], sample_rng(self.base_seed, position))


class TrainLoader:
    """Infinite iterable of batches (lists of ``batch_size`` mapped dicts).

    With aspect-ratio grouping, samples wait in a "wide" or a "tall" bucket until the bucket holds
    a full batch, so every batch has one orientation (as in Detectron2).
    """

    def __init__(self, loader: torchdata.DataLoader, batch_size: int, aspect_ratio_grouping: bool) -> None:
        self.loader, self.batch_size, self.aspect_ratio_grouping = loader, batch_size, aspect_ratio_grouping

    def __iter__(self) -> Iterator[list[dict]]:
        buckets: dict[bool, list[dict]] = {False: [], True: []}
        for sample in self.loader:
            key = (
                bool(sample["image"].shape[-1] > sample["image"].shape[-2])
                if self.aspect_ratio_grouping
                else False
            )
            buckets[key].append(sample)
            if len(buckets[key]) == self.batch_size:
                batch, buckets[key] = buckets[key], []
                yield batch


def build_train_sampler(cfg, dicts: list[dict], seed: int, start: int) -> TrainingSampler:
    """The DATALOADER.SAMPLER_TRAIN sampler over ``dicts`` from stream position ``start``."""
    name = cfg.DATALOADER.SAMPLER_TRAIN
    if name == "TrainingSampler":
        return TrainingSampler(len(dicts), seed=seed, start=start)
    if name == "RepeatFactorTrainingSampler":
        factors = repeat_factors_from_category_frequency(
            dicts, cfg.DATALOADER.REPEAT_THRESHOLD, sqrt=cfg.DATALOADER.REPEAT_SQRT
        )
        logger.info("Repeat factors: mean %.3f, max %.3f.", factors.mean().item(), factors.max().item())
        return RepeatFactorTrainingSampler(factors, seed=seed, start=start)
    raise ValueError(
        f"Unknown DATALOADER.SAMPLER_TRAIN '{name}'; use 'TrainingSampler' or 'RepeatFactorTrainingSampler'."
    )


def build_train_loader(cfg, start_iter: int = 0, mapper: Callable | None = None) -> TrainLoader:
    """Infinite training loader of ``DATASETS.TRAIN``.

    Args:
        cfg: config (DATASETS.TRAIN, DATALOADER.*, SOLVER.IMS_PER_BATCH (total), SEED, INPUT.*).
        start_iter: first iteration; the stream resumes at sample ``start_iter * IMS_PER_BATCH``.
        mapper: defaults to ``build_mapper(cfg, is_train=True)``.

    Returns:
        an iterable of lists of ``IMS_PER_BATCH // world_size`` mapped dicts.
    """
    world_size = comm.get_world_size()
    batch_size = per_process_batch_size(cfg.SOLVER.IMS_PER_BATCH, world_size)
    dicts = get_dataset_dicts(cfg.DATASETS.TRAIN, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    seed = cfg.SEED if cfg.SEED >= 0 else DEFAULT_BASE_SEED
    sampler = build_train_sampler(cfg, dicts, seed, start=start_iter * cfg.SOLVER.IMS_PER_BATCH)
    stream = _MappedStream(SerializedList(dicts), mapper or build_mapper(cfg, is_train=True), sampler, seed)
    loader = torchdata.DataLoader(
        stream, batch_size=None, num_workers=cfg.DATALOADER.NUM_WORKERS, collate_fn=_as_is
    )
    logger.info("Training on %d images, %d per process and batch.", len(dicts), batch_size)
    return TrainLoader(loader, batch_size, cfg.DATALOADER.ASPECT_RATIO_GROUPING)


class _ListDataset(torchdata.Dataset):
    def __init__(self, dicts: SerializedList, mapper: Callable) -> None:
        self.dicts, self.mapper = dicts, mapper

    def __len__(self) -> int:
        return len(self.dicts)

    def __getitem__(self, index: int) -> dict:
        return self.mapper(self.dicts[index])


def build_test_loader(cfg, dataset_name: str, mapper: Callable | None = None) -> torchdata.DataLoader:
    """Loader of one test set: this process's contiguous shard, batch size 1, lists of dicts.

    Args:
        cfg: config (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST / FORMAT, DATALOADER.NUM_WORKERS).
        dataset_name: a registered dataset.
        mapper: defaults to ``build_mapper(cfg, is_train=False)``.
    """
    dicts = get_dataset_dicts([dataset_name], filter_empty=False)
    dataset = _ListDataset(SerializedList(dicts), mapper or build_mapper(cfg, is_train=False))
    return torchdata.DataLoader(
        dataset,
        batch_size=1,
        sampler=InferenceSampler(len(dataset)),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=_as_is,
    )
