"""The one module that talks to ``torch.distributed``.

Everything else asks this module for rank / world size and calls its collectives, which all
degrade to no-ops when the process group is not initialised (single-process runs, tests).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "all_gather",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "destroy_process_group",
    "gather",
    "get_local_rank",
    "get_local_size",
    "get_rank",
    "get_world_size",
    "is_dist_initialized",
    "is_main_process",
    "shared_random_seed",
    "synchronize",
]

_LOCAL_PROCESS_GROUP = None
_GLOO_GROUP = None  # see _gloo_group


def is_dist_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist_initialized() else 0


def set_local_process_group(group: Any) -> None:
    """Remembers the group of processes on this machine (created by ``launch``)."""
    global _LOCAL_PROCESS_GROUP
    _LOCAL_PROCESS_GROUP = group


def get_local_rank() -> int:
    """Rank within the current machine."""
    if not is_dist_initialized() or _LOCAL_PROCESS_GROUP is None:
        return 0
    return dist.get_rank(group=_LOCAL_PROCESS_GROUP)


def get_local_size() -> int:
    """Number of processes on the current machine."""
    if not is_dist_initialized() or _LOCAL_PROCESS_GROUP is None:
        return 1
    return dist.get_world_size(group=_LOCAL_PROCESS_GROUP)


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; no-op with one process."""
    if get_world_size() > 1:
        dist.barrier()


barrier = synchronize


def _gloo_group() -> Any:
    """A gloo group for gathering Python objects (works whatever the main backend is).

    ``None`` (the default group) when that is gloo; with nccl a gloo group over all processes,
    made on first use (by every process, as a collective) and kept until
    :func:`destroy_process_group`.
    """
    global _GLOO_GROUP
    if dist.get_backend() != "nccl":
        return None
    if _GLOO_GROUP is None:
        _GLOO_GROUP = dist.new_group(backend="gloo")
    return _GLOO_GROUP


def destroy_process_group() -> None:
    """Leaves distributed mode: drops this module's groups, then destroys every group.

    The references go first: a group object that outlives ``dist.destroy_process_group`` keeps
    its worker threads alive until interpreter shutdown, where freeing their last finished work
    needs the GIL and aborts the process ("terminate called without an active exception").
    """
    global _LOCAL_PROCESS_GROUP, _GLOO_GROUP
    _LOCAL_PROCESS_GROUP = _GLOO_GROUP = None
    if is_dist_initialized():
        dist.destroy_process_group()


def all_gather(data: Any) -> list[Any]:
    """Gathers a picklable object from every process; returns the list on every process."""
    if get_world_size() == 1:
        return [data]
    output: list[Any] = [None] * get_world_size()
    dist.all_gather_object(output, data, group=_gloo_group())
    return output


def gather(data: Any, dst: int = 0) -> list[Any]:
    """Gathers a picklable object to rank ``dst``; other ranks get an empty list."""
    if get_world_size() == 1:
        return [data]
    group = _gloo_group()
    if get_rank() == dst:
        output: list[Any] = [None] * get_world_size()
        dist.gather_object(data, output, dst=dst, group=group)
        return output
    dist.gather_object(data, None, dst=dst, group=group)
    return []


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Returns rank ``src``'s object on every process."""
    if get_world_size() == 1:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src, group=_gloo_group())
    return holder[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over processes (in place on a copy); identity with one process."""
    if get_world_size() == 1:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def shared_random_seed() -> int:
    """A random integer that is the same on every process (drawn on rank 0)."""
    seed = int(torch.randint(2**31, (1,)).item())
    return int(broadcast_object(seed))
