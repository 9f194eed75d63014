"""What ``launch`` reads from its environment: SLURM job variables and the CPU thread budget.

SLURM: ``srun`` starts one task per process and describes the job step in ``SLURM_STEP_ID``,
``SLURM_PROCID`` (global rank), ``SLURM_NTASKS`` (world size), ``SLURM_LOCALID`` (rank on the
node), ``SLURM_NNODES``, ``SLURM_NODEID`` and ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST``
(compressed host list, e.g. ``gpu[03-05,9]``); the first host of the list is the rendezvous host.
``MASTER_ADDR`` / ``MASTER_PORT`` override the host and the port (by default derived from
``SLURM_JOB_ID``).

Threads: N processes on one machine, each with PyTorch's default of one intra-op thread per
core, oversubscribe the cores N times. Like torchrun, each process of a multi-process run gets
``max(1, cores // N)`` threads unless ``OMP_NUM_THREADS`` is set, which always wins.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import torch

__all__ = ["SlurmJob", "configure_cpu_threads", "first_host", "slurm_job", "threads_report"]

logger = logging.getLogger(__name__)


def first_host(nodelist: str) -> str:
    """The first host of a SLURM host list: ``"gpu[03-05,9],cpu1"`` -> ``"gpu03"``.

    Raises:
        ValueError: for an empty or malformed list.
    """
    match = re.match(r"\s*([^,\[\]]+)(?:\[([^\]]+)\]([^,\[\]]*))?", nodelist)
    if not match:
        raise ValueError(f"Cannot read the first host of the SLURM node list {nodelist!r}.")
    prefix, ranges, suffix = match.groups()
    if ranges is None:
        return prefix.strip()
    first = ranges.split(",")[0].split("-")[0]
    return f"{prefix}{first}{suffix or ''}"


@dataclass(frozen=True)
class SlurmJob:
    """The process layout of a SLURM job step (one process per task)."""

    rank: int
    world_size: int
    local_rank: int
    local_size: int
    node_rank: int
    num_nodes: int
    host: str
    port: int

    @property
    def dist_url(self) -> str:
        return f"tcp://{self.host}:{self.port}"


def slurm_job() -> SlurmJob | None:
    """The SLURM job step this process is a task of, or None outside a step (or in a 1-task step).

    Raises:
        ValueError: when the variables are inconsistent (the message names them).
    """
    env = os.environ
    # srun sets the step id in each task; a shell inside salloc / sbatch has the job's task count
    # but is not one of its tasks.
    in_step = "SLURM_STEP_ID" in env or "SLURM_STEPID" in env
    if not in_step or "SLURM_PROCID" not in env or int(env.get("SLURM_NTASKS", "1")) <= 1:
        return None
    world_size = int(env["SLURM_NTASKS"])
    num_nodes = int(env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or 1)
    per_node = env.get("SLURM_NTASKS_PER_NODE", "")
    local_size = int(per_node) if per_node.isdigit() else world_size // num_nodes
    if local_size * num_nodes != world_size:
        raise ValueError(
            f"SLURM_NTASKS={world_size} tasks are not spread evenly over SLURM_NNODES={num_nodes} nodes; "
            "use srun --ntasks-per-node."
        )
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    host = env.get("MASTER_ADDR") or (first_host(nodelist) if nodelist else "127.0.0.1")
    port = int(env.get("MASTER_PORT") or 15000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
    return SlurmJob(
        rank=int(env["SLURM_PROCID"]),
        world_size=world_size,
        local_rank=int(env.get("SLURM_LOCALID", "0")),
        local_size=local_size,
        node_rank=int(env.get("SLURM_NODEID", "0")),
        num_nodes=num_nodes,
        host=host,
        port=port,
    )


def _num_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a SLURM or cgroup CPU set)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure_cpu_threads(local_processes: int) -> int:
    """Sets this process's intra-op threads so that ``local_processes`` x threads <= cores.

    ``OMP_NUM_THREADS``, when set, is the override and is applied as given. One process keeps
    PyTorch's default.

    Args:
        local_processes: processes of this run on this machine.

    Returns:
        the number of intra-op threads of this process.
    """
    override = os.environ.get("OMP_NUM_THREADS", "")
    cores = _num_cores()
    if override.isdigit() and int(override) > 0:
        threads, why = int(override), "OMP_NUM_THREADS"
    elif local_processes > 1:
        threads, why = max(1, cores // local_processes), f"{cores} cores / {local_processes} processes"
    else:
        return torch.get_num_threads()
    torch.set_num_threads(threads)
    # Like torchrun: processes this one starts inherit the budget.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    logger.info("Intra-op threads per process: %d (%s; set OMP_NUM_THREADS to override).", threads, why)
    return threads


def threads_report() -> str:
    """One log line: intra-op threads of this process, the cores and where the number comes from."""
    return (
        f"Intra-op threads of this process: {torch.get_num_threads()} on {_num_cores()} cores "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; multi-process runs get "
        "cores // processes per machine unless OMP_NUM_THREADS is set)"
    )
