"""Multi-process launching: one process per device (nccl on CUDA, gloo on CPU), or torchrun.

``launch(main, num_gpus_per_machine=N, ...)`` spawns N workers on this machine; each joins the
process group and calls ``main(*args)``. Without CUDA, N means N CPU processes (gloo). When the
script was started by ``torchrun`` (``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set), the process
group is initialised from the environment and ``main`` runs directly in this process.
``backend="gloo"`` runs CPU processes on a machine with GPUs (e.g. ``MODEL.DEVICE cpu``).
Under ``srun`` with several tasks, each task is one process whose rank, world size and rendezvous
come from the SLURM variables (see ``cluster.py``); with one task per node and ``--num-gpus N``,
each task starts N processes and the node is the machine. Every process of a multi-process run
gets ``cores // processes per machine`` intra-op threads unless ``OMP_NUM_THREADS`` is set.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from maskformer.utils import comm

from .cluster import SlurmJob, configure_cpu_threads, slurm_job
from .process_watch import exit_with_parent, explain_timeout

__all__ = ["DEFAULT_TIMEOUT", "launch", "resolve_backend"]

# How long a collective operation may wait for a peer before the job stops (--dist-timeout).
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)
logger = logging.getLogger(__name__)


def _find_free_port() -> int:
    """A TCP port free right now on localhost (for ``--dist-url auto``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _started_by_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def resolve_backend(backend: str | None, num_local_processes: int) -> str:
    """The process-group backend to use.

    Args:
        backend: ``"nccl"``, ``"gloo"``, or None to choose: nccl when CUDA is available and every
            local process gets its own GPU, else gloo (CPU processes).
        num_local_processes: processes on this machine.

    Returns:
        The backend name.

    Raises:
        ValueError: for a backend other than nccl/gloo/None, or nccl without CUDA.
    """
    if backend is None:
        fits = torch.cuda.is_available() and num_local_processes <= torch.cuda.device_count()
        return "nccl" if fits else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"launch(backend={backend!r}) is not supported; use 'nccl', 'gloo' or None.")
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("launch(backend='nccl') needs CUDA, which is not available; use 'gloo' or None.")
    return backend


def _join_group(
    init_method: str,
    world_size: int,
    rank: int,
    local_rank: int,
    local_size: int,
    timeout: datetime.timedelta,
    backend: str,
) -> None:
    """Initialises the global process group, the per-machine group, and (nccl) the CUDA device."""
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"Process with local rank {local_rank} needs a GPU, but only {torch.cuda.device_count()} "
                "are visible; lower --num-gpus."
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend, init_method=init_method, world_size=world_size, rank=rank, timeout=timeout
    )
    # Every process must create every machine's group, in the same order.
    for machine in range(world_size // local_size):
        ranks = list(range(machine * local_size, (machine + 1) * local_size))
        group = dist.new_group(ranks)
        if rank in ranks:
            comm.set_local_process_group(group)
    comm.synchronize()


def _worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    num_gpus_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple,
    timeout: datetime.timedelta,
    backend: str,
    launcher_pid: int,
) -> None:
    exit_with_parent(launcher_pid)  # no orphan keeps running if the launcher is killed
    rank = machine_rank * num_gpus_per_machine + local_rank
    configure_cpu_threads(num_gpus_per_machine)
    _join_group(dist_url, world_size, rank, local_rank, num_gpus_per_machine, timeout, backend)
    _run_then_leave_group(main_func, args, timeout)


def _run_under_torchrun(
    main_func: Callable[..., Any], args: tuple, timeout: datetime.timedelta, backend: str | None
) -> None:
    world_size = int(os.environ["WORLD_SIZE"])
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    backend = resolve_backend(backend, local_size)
    configure_cpu_threads(local_size)
    _join_group("env://", world_size, rank, local_rank, local_size, timeout, backend)
    _run_then_leave_group(main_func, args, timeout)


def _run_as_slurm_task(
    main_func: Callable[..., Any],
    args: tuple,
    job: SlurmJob,
    dist_url: str | None,
    timeout: datetime.timedelta,
    backend: str | None,
) -> None:
    """One process per SLURM task: rank, world and rendezvous come from the job's variables."""
    url = job.dist_url if dist_url in (None, "auto", "env://") else dist_url
    backend = resolve_backend(backend, job.local_size)
    configure_cpu_threads(job.local_size)
    _join_group(url, job.world_size, job.rank, job.local_rank, job.local_size, timeout, backend)
    _run_then_leave_group(main_func, args, timeout)


def _check_env_url(dist_url: str | None) -> None:
    if dist_url == "env://":
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ValueError(
                f"--dist-url env:// reads the rendezvous from the environment, but {missing} are not set: "
                "export MASTER_ADDR=<host of machine rank 0> MASTER_PORT=<free port>, or use torchrun."
            )


def _run_then_leave_group(main_func: Callable[..., Any], args: tuple, timeout: datetime.timedelta) -> None:
    """Runs ``main_func``; a final barrier lets every rank finish its sends before the group closes.

    Without it a rank that is done early (e.g. after sending its part of a gather) can tear down
    gloo's connections while a peer still reads from them, which aborts a process. A collective
    that times out is reported with the ranks that never reached it.
    """
    try:
        main_func(*args)
        dist.barrier()
    except Exception as e:
        explained = explain_timeout(e, timeout)
        if explained is None:
            raise
        raise explained from e
    finally:
        comm.destroy_process_group()


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str | None = None,
    args: tuple = (),
    timeout: datetime.timedelta = DEFAULT_TIMEOUT,
    backend: str | None = None,
) -> None:
    """Runs ``main_func(*args)`` in one process per device across machines.

    Args:
        main_func: a picklable (module-level) function.
        num_gpus_per_machine: processes on this machine (GPUs, or CPU processes without CUDA).
        num_machines: number of machines.
        machine_rank: this machine's rank, 0 .. num_machines - 1.
        dist_url: the rendezvous URL, e.g. ``tcp://host:port``; ``"auto"`` (single machine only)
            picks a free local port.
        args: arguments of ``main_func``.
        timeout: how long a collective operation waits for the other processes before the job
            stops with an error naming the ranks that never arrived (``--dist-timeout``).
        backend: ``"nccl"`` (one GPU per process), ``"gloo"`` (CPU processes, also on a machine
            with GPUs, e.g. for ``MODEL.DEVICE cpu``), or None: nccl when CUDA is available and
            ``num_gpus_per_machine`` GPUs are visible, else gloo.

    Raises:
        ValueError: for ``dist_url="auto"`` with several machines, a missing dist_url, or an
            unsupported backend.
    """
    if _started_by_torchrun():
        _run_under_torchrun(main_func, args, timeout, backend)
        return
    job = slurm_job()
    if job is not None and (job.local_size > 1 or num_gpus_per_machine == 1):
        _run_as_slurm_task(main_func, args, job, dist_url, timeout, backend)
        return
    if job is not None:
        # One SLURM task per node, each starting num_gpus_per_machine processes.
        num_machines, machine_rank = job.num_nodes, job.node_rank
        dist_url = job.dist_url if dist_url in (None, "auto", "env://") else dist_url
    _check_env_url(dist_url)
    world_size = num_machines * num_gpus_per_machine
    backend = resolve_backend(backend, num_gpus_per_machine)
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto works on one machine only; pass tcp://<main host>:<port>.")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if not dist_url:
        raise ValueError("launch() with several processes needs dist_url (e.g. 'auto' or tcp://host:port).")
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// rendezvous needs a file system shared by all machines.")
    launcher_pid = os.getpid()
    mp.start_processes(
        _worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout, backend)
        + (launcher_pid,),
        daemon=False,
        start_method="spawn",
    )
