"""Samplers: an infinite seeded training stream and a sharded inference order.

The training stream is a fixed sequence of (position, dataset index) pairs determined by the seed
only; process ``r`` of ``W`` takes positions ``r, r + W, ...``. A run resumed at iteration ``i``
starts at position ``i * total_batch_size``, so it sees exactly the samples an uninterrupted run
would have seen, and each sample's augmentation RNG is derived from its position.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch

from maskformer.utils import comm

__all__ = ["InferenceSampler", "TrainingSampler"]


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
        first_epoch = self.start // self.size
        for _ in range(first_epoch):  # replay skipped permutations to keep the generator state exact
            self._epoch_order(generator)
        position = first_epoch * self.size
        while True:
            for index in self._epoch_order(generator):
                if position >= self.start:
                    yield position, index
                position += 1

    def positions(self) -> Iterator[tuple[int, int]]:
        """This process's (global position, dataset index) pairs, forever."""
        return itertools.islice(self._global_stream(), self.rank, None, self.world_size)

    def __iter__(self) -> Iterator[int]:
        for _, index in self.positions():
            yield index


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
