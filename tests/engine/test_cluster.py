"""SLURM job variables and the per-process CPU thread budget (maskformer/engine/cluster.py)."""

from __future__ import annotations

import importlib

import pytest
import torch

from maskformer.engine import cluster
from maskformer.engine.cluster import SlurmJob, configure_cpu_threads, first_host, slurm_job
from maskformer.engine.launch import launch

launch_module = importlib.import_module("maskformer.engine.launch")  # the package re-exports launch()

_SLURM_KEYS = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NNODES", "SLURM_NODEID",
               "SLURM_NTASKS_PER_NODE", "SLURM_JOB_NUM_NODES", "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST",
               "SLURM_NODELIST", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_STEPID", "MASTER_ADDR",
               "MASTER_PORT")  # fmt: skip


@pytest.fixture
def slurm_env(monkeypatch):
    for key in _SLURM_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [
        ("gpu07", "gpu07"),
        ("gpu[03-05,9],cpu1", "gpu03"),
        ("node[1,4-6]", "node1"),
        ("rack2-[010-012]-ib", "rack2-010-ib"),
        ("a1,a2", "a1"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_slurm_job_from_the_variables_of_a_two_node_step(slurm_env):
    assert slurm_job() is None  # outside SLURM
    slurm_env.setenv("SLURM_PROCID", "5")
    slurm_env.setenv("SLURM_STEP_ID", "0")
    slurm_env.setenv("SLURM_NTASKS", "1")
    assert slurm_job() is None  # a one-task step is a plain single process
    for key, value in {"SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NNODES": "2", "SLURM_NODEID": "1",
                       "SLURM_JOB_NODELIST": "gpu[03-04]", "SLURM_JOB_ID": "123456"}.items():  # fmt: skip
        slurm_env.setenv(key, value)
    slurm_env.delenv("SLURM_STEP_ID")
    assert slurm_job() is None  # a shell inside salloc / sbatch: not a task of an srun step
    slurm_env.setenv("SLURM_STEP_ID", "0")
    job = slurm_job()
    assert job == SlurmJob(rank=5, world_size=8, local_rank=1, local_size=4, node_rank=1, num_nodes=2,
                           host="gpu03", port=15000 + 123456 % 20000)  # fmt: skip
    assert job.dist_url == "tcp://gpu03:18456"
    slurm_env.setenv("MASTER_ADDR", "10.0.0.2")
    slurm_env.setenv("MASTER_PORT", "29400")
    assert slurm_job().dist_url == "tcp://10.0.0.2:29400"
    slurm_env.setenv("SLURM_NTASKS", "7")
    with pytest.raises(ValueError, match="SLURM_NTASKS=7 tasks are not spread evenly over SLURM_NNODES=2"):
        slurm_job()


def test_threads_per_process_fit_the_cores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(cluster, "_num_cores", lambda: 8)
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert configure_cpu_threads(1) == before  # one process keeps PyTorch's default
        assert configure_cpu_threads(3) == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert configure_cpu_threads(16) == 1  # at least one thread
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert configure_cpu_threads(2) == 3  # the override wins
    finally:
        torch.set_num_threads(before)


def _noop() -> None:
    pass


def test_launch_env_url_needs_master_address(slurm_env):
    with pytest.raises(ValueError, match=r"--dist-url env:// .*\['MASTER_ADDR', 'MASTER_PORT'\] are not set"):
        launch(_noop, 2, dist_url="env://", backend="gloo")


def test_one_slurm_task_per_node_spawns_the_node_processes(slurm_env):
    """``srun --ntasks-per-node=1 ... --num-gpus 4``: the node is the machine, its rank SLURM_NODEID."""
    variables = {"SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_NNODES": "2",
                 "SLURM_NODEID": "1", "SLURM_LOCALID": "0", "SLURM_JOB_NODELIST": "gpu[03-04]",
                 "SLURM_JOB_ID": "7"}  # fmt: skip
    for key, value in variables.items():
        slurm_env.setenv(key, value)
    spawned = {}

    def start_processes(fn, nprocs, args, **kwargs):
        keys = ("nprocs", "world_size", "per_machine", "machine_rank", "url")
        spawned.update(zip(keys, (nprocs, *args[1:5]), strict=True))

    slurm_env.setattr(launch_module.mp, "start_processes", start_processes)
    launch(_noop, 4, dist_url="auto", backend="gloo")
    assert spawned == {"nprocs": 4, "world_size": 8, "per_machine": 4, "machine_rank": 1,
                       "url": "tcp://gpu03:15007"}  # fmt: skip
