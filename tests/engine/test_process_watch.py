"""No orphaned workers when the launcher is SIGKILLed under ``nohup ... &``; a hung rank is named."""

import datetime
import os
import subprocess
import sys
import textwrap
import time

import pytest

from maskformer.engine import launch
from maskformer.engine.process_watch import explain_timeout
from maskformer.utils import comm

LAUNCHER = textwrap.dedent(
    """
    import os, sys, time
    from maskformer.engine import launch

    def main(folder):
        open(os.path.join(folder, f"worker_{os.getpid()}"), "w").close()
        time.sleep(600)

    if __name__ == "__main__":
        launch(main, 2, dist_url="auto", args=(sys.argv[1],))
    """
)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(condition, seconds: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"{what} not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.dist
@pytest.mark.slow
def test_workers_exit_within_seconds_when_the_launcher_is_sigkilled(tmp_path):
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    # As a user types it: in the background under nohup (SIGINT and SIGHUP ignored).
    shell = f"nohup {sys.executable} {script} {tmp_path} > {tmp_path}/log.txt 2>&1 & echo $!"
    launcher = int(subprocess.run(["sh", "-c", shell], env=env, capture_output=True, text=True).stdout)
    workers: list[int] = []
    try:

        def started() -> bool:
            workers[:] = [int(p.name.split("_")[1]) for p in tmp_path.glob("worker_*")]
            return len(workers) == 2

        _wait_for(started, 240, "two workers")
        os.kill(launcher, 9)
        seconds = _wait_for(lambda: not any(_alive(p) for p in workers), 10, "the workers' exit")
    finally:
        for pid in [launcher, *workers]:
            if _alive(pid):
                os.kill(pid, 9)
    assert seconds < 10


def _hung_rank_one() -> None:
    if comm.get_rank() == 1:
        time.sleep(120)  # hung: never reaches the collective
    comm.synchronize()


@pytest.mark.dist
@pytest.mark.slow
def test_a_hung_rank_ends_the_job_after_the_timeout_naming_it():
    start = time.monotonic()
    expected = r"Rank 0 of 2: a collective operation did not finish within 0:00:03; rank\(s\) 1 never reached"
    with pytest.raises(Exception, match=expected):
        launch(_hung_rank_one, 2, dist_url="auto", timeout=datetime.timedelta(seconds=3))
    assert time.monotonic() - start < 100


def test_only_timed_out_collectives_are_explained():
    minute = datetime.timedelta(minutes=1)
    assert explain_timeout(OSError("<urlopen error timed out>"), minute) is None  # a download
    assert explain_timeout(RuntimeError("shape mismatch"), minute) is None
    assert explain_timeout(RuntimeError("Timed out waiting 60000ms for recv"), minute) is None  # no group
