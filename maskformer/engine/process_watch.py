"""Workers that never outlive their launcher, and collective timeouts that name the hung ranks.

``exit_with_parent`` makes a spawned worker end within about a second of its launcher's death,
however the launcher died (SIGKILL, a crash, a terminal closed under ``nohup ... &``), so that
no orphaned worker keeps training, or writing checkpoints, next to a later ``--resume``. On Linux
the kernel delivers SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); everywhere a
daemon thread also polls ``os.getppid()``.

``explain_timeout`` turns a collective operation that timed out (gloo) into an error naming the
ranks that never reached the collective: every rank whose operation timed out marks itself in
the process group's store, waits for the others, and the ranks without a mark are the hung
ones. (With NCCL, PyTorch's watchdog aborts the process and logs the timed-out operation.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import os
import signal
import sys
import threading
import time

import torch.distributed as dist

__all__ = ["exit_with_parent", "explain_timeout", "unresponsive_ranks"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_SECONDS = 0.5
_STORE_PREFIX = "maskformer/timed_out/"


def _kernel_parent_death_signal() -> None:
    """Asks Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _poll_parent(parent_pid: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent_pid:
            os.write(2, f"Launcher process {parent_pid} is gone; worker {os.getpid()} exits.\n".encode())
            os._exit(1)


def exit_with_parent(parent_pid: int) -> None:
    """Makes this process exit as soon as process ``parent_pid`` (its parent) is gone.

    Args:
        parent_pid: the launcher's pid, passed by the launcher (the parent may already be gone
            when this runs, in which case the process exits at once).
    """
    _kernel_parent_death_signal()
    if os.getppid() != parent_pid:  # died before the watch was set up
        os._exit(1)
    threading.Thread(target=_poll_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def unresponsive_ranks(rank: int, world_size: int, wait: datetime.timedelta) -> list[int] | None:
    """The ranks that do not report a timeout within ``wait`` (they never reached the collective).

    Args:
        rank: this process's rank, whose collective timed out.
        world_size: the number of ranks.
        wait: how long to wait for the other ranks' reports.

    Returns:
        The sorted ranks without a report, or None when the store cannot be reached.
    """
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set(f"{_STORE_PREFIX}{rank}", "1")
        deadline = time.monotonic() + wait.total_seconds()
        while True:
            missing = [r for r in range(world_size) if not store.check([f"{_STORE_PREFIX}{r}"])]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.2)
    except Exception:  # the store's host process may be the hung one
        return None


def explain_timeout(error: BaseException, timeout: datetime.timedelta) -> RuntimeError | None:
    """A RuntimeError naming the hung ranks when ``error`` is a timed-out collective, else None.

    Call it on every rank whose collective failed; it waits up to ``min(timeout, 60 s)`` for the
    other ranks' reports.
    """
    # Collective timeouts are RuntimeErrors (DistBackendError is one); a download's timeout is not.
    collective = isinstance(error, RuntimeError) and "timed out" in str(error).lower()
    if not collective or not dist.is_initialized():
        return None
    rank, world_size = dist.get_rank(), dist.get_world_size()
    hung = unresponsive_ranks(rank, world_size, min(timeout, datetime.timedelta(seconds=60)))
    if hung is None:
        who = "the process group's store did not answer either (rank 0, its host, may be the hung one)"
    elif hung:
        who = f"rank(s) {', '.join(map(str, hung))} never reached it (hung, stopped or stuck)"
    else:
        who = "every rank reported the timeout (a network or backend problem, not a hung rank)"
    return RuntimeError(
        f"Rank {rank} of {world_size}: a collective operation did not finish within {timeout}; {who}. "
        "The job stops. A longer wait is set with --dist-timeout MINUTES (e.g. for long evaluations)."
    )
