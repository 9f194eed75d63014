"""Samplers: an infinite seeded training stream and a sharded inference order.

The training stream is a fixed sequence of (position, dataset index) pairs determined by the seed
only; process ``r`` of ``W`` takes positions ``r, r + W, ...``. A run resumed at iteration ``i``
starts at position ``i * total_batch_size``, so it sees exactly the samples an uninterrupted run
would have seen, and each sample's augmentation RNG is derived from its position.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

import torch

from maskformer.utils import comm

__all__ = [
    "InferenceSampler",
    "RepeatFactorTrainingSampler",
    "TrainingSampler",
    "repeat_factors_from_category_frequency",
]


class TrainingSampler:
    """Infinite stream of shuffled epochs, sharded across processes.

    Args:
        size: number of dataset dicts.
        shuffle: shuffle every epoch (else 0..size-1 repeatedly).
        seed: seed of the permutations; the same on every process.
        start: global stream position to start from (``start_iter * IMS_PER_BATCH`` when resuming).
        rank: this process (default: from ``comm``).
        world_size: number of processes (default: from ``comm``).
    """

    def __init__(
        self,
        size: int,
        shuffle: bool = True,
        seed: int = 0,
        start: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if size <= 0:
            raise ValueError(f"TrainingSampler needs a non-empty dataset, got size {size}.")
        self.size, self.shuffle, self.seed, self.start = size, shuffle, int(seed), int(start)
        self.rank = comm.get_rank() if rank is None else rank
        self.world_size = comm.get_world_size() if world_size is None else world_size

    def _epoch_order(self, generator: torch.Generator) -> list[int]:
        if self.shuffle:
            return torch.randperm(self.size, generator=generator).tolist()
        return list(range(self.size))

    def _global_stream(self) -> Iterator[tuple[int, int]]:
        """All (position, index) pairs from ``start`` on, for every process."""
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        position = 0
        while True:
            order = self._epoch_order(generator)
            if position + len(order) <= self.start:  # skipped epochs are replayed for the generator state
                position += len(order)
                continue
            for index in order:
                if position >= self.start:
                    yield position, index
                position += 1

    def positions(self) -> Iterator[tuple[int, int]]:
        """This process's (global position, dataset index) pairs, forever."""
        return itertools.islice(self._global_stream(), self.rank, None, self.world_size)

    def __iter__(self) -> Iterator[int]:
        for _, index in self.positions():
            yield index


def _image_categories(record: dict) -> set[int]:
    """Category ids of one dataset dict (instance ``annotations`` or panoptic ``segments_info``)."""
    if "annotations" in record:
        return {a["category_id"] for a in record["annotations"]}
    if "segments_info" in record:
        return {s["category_id"] for s in record["segments_info"]}
    raise ValueError(
        f"RepeatFactorTrainingSampler needs the categories of every image, but the dataset dict of "
        f"'{record.get('file_name', '?')}' has neither 'annotations' nor 'segments_info' (semantic "
        f"datasets have none); use DATALOADER.SAMPLER_TRAIN 'TrainingSampler'."
    )


def repeat_factors_from_category_frequency(
    dataset_dicts: list[dict], repeat_thresh: float, sqrt: bool = True
) -> torch.Tensor:
    """Per-image repeat factors for class-balanced sampling (LVIS, Gupta et al. 2019).

    With ``f(c)`` the fraction of images that contain category ``c``, the category factor is
    ``r(c) = max(1, sqrt(t / f(c)))`` (or ``t / f(c)`` without ``sqrt``) and an image's factor is
    the largest ``r(c)`` of its categories (1 for an image without any).

    Returns:
        float tensor ``[N]`` of factors >= 1.
    """
    categories = [_image_categories(d) for d in dataset_dicts]
    counts = Counter(c for cats in categories for c in cats)
    num_images = len(dataset_dicts)

    def category_factor(c: int) -> float:
        ratio = repeat_thresh / (counts[c] / num_images)
        return max(1.0, ratio**0.5 if sqrt else ratio)

    factors = {c: category_factor(c) for c in counts}
    return torch.tensor([max((factors[c] for c in cats), default=1.0) for cats in categories])


class RepeatFactorTrainingSampler(TrainingSampler):
    """:class:`TrainingSampler` whose epochs repeat image ``i`` ``repeat_factors[i]`` times on average.

    Each epoch rounds every factor stochastically (2.3 -> 2 or 3 times, 3 with probability 0.3),
    repeats the indices accordingly and shuffles them, so epochs vary in length. Resuming,
    sharding and per-position augmentation work as for :class:`TrainingSampler`.

    Args:
        repeat_factors: float tensor ``[N]`` (see :func:`repeat_factors_from_category_frequency`).
        seed, start, rank, world_size: as for :class:`TrainingSampler`.
    """

    def __init__(
        self,
        repeat_factors: torch.Tensor,
        seed: int = 0,
        start: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__(len(repeat_factors), True, seed, start, rank, world_size)
        self.int_part = torch.trunc(repeat_factors)
        self.frac_part = repeat_factors - self.int_part

    def _epoch_order(self, generator: torch.Generator) -> list[int]:
        draws = torch.rand(self.size, generator=generator)
        repeats = (self.int_part + (draws < self.frac_part).float()).long()
        indices = torch.repeat_interleave(torch.arange(self.size), repeats)
        return indices[torch.randperm(len(indices), generator=generator)].tolist()


class InferenceSampler:
    """Contiguous, disjoint shards of ``range(size)``; together they cover every index once.

    The first ``size % world_size`` processes get one extra index.
    """

    def __init__(self, size: int, rank: int | None = None, world_size: int | None = None) -> None:
        self.size = size
        rank = comm.get_rank() if rank is None else rank
        world_size = comm.get_world_size() if world_size is None else world_size
        shard, left = divmod(size, world_size)
        shard_sizes = [shard + int(r < left) for r in range(world_size)]
        begin = sum(shard_sizes[:rank])
        self.indices = range(begin, begin + shard_sizes[rank])

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
