"""launch(): two gloo processes on CPU average gradients; torchrun-style environment start."""

import socket

import pytest
import torch
from torch import nn

from maskformer.engine import SimpleTrainer, create_ddp_model, launch
from maskformer.engine.launch import resolve_backend
from maskformer.utils import comm
from maskformer.utils.events import EventStorage
from tests.helpers.toy_engine import ToyModel, toy_stream


def _ddp_worker(out_path: str) -> None:
    rank = comm.get_rank()
    torch.manual_seed(0)
    linear = nn.Linear(3, 1)
    ddp = create_ddp_model(linear)
    assert isinstance(ddp, nn.parallel.DistributedDataParallel)
    x = torch.full((2, 3), float(rank + 1))  # each process sees different data
    ddp(x).sum().backward()
    grads = comm.all_gather(linear.weight.grad.clone())

    torch.manual_seed(0)
    toy = ToyModel()
    trainer = SimpleTrainer(
        create_ddp_model(toy), toy_stream(start_iter=10 * rank), torch.optim.SGD(toy.parameters(), 0.1)
    )
    with EventStorage() as storage:
        for _ in range(2):
            trainer.run_step()
            storage.step()
    params = comm.all_gather([p.detach().clone() for p in toy.parameters()])
    if comm.is_main_process():
        result = {
            "world": comm.get_world_size(),
            "local": comm.get_local_size(),
            "grads": grads,
            "params": params,
        }
        torch.save(result, out_path)


@pytest.mark.dist
@pytest.mark.slow
def test_two_cpu_processes_average_gradients(tmp_path):
    out = str(tmp_path / "result.pth")
    launch(_ddp_worker, num_gpus_per_machine=2, dist_url="auto", args=(out,))
    result = torch.load(out, weights_only=True)
    assert result["world"] == 2 and result["local"] == 2
    # d(sum of outputs)/dW = sum of the 2 input rows = 2 * (rank + 1); averaged over ranks: 3.
    for grad in result["grads"]:
        assert torch.equal(grad, torch.full((1, 3), 3.0))
    rank0, rank1 = result["params"]
    assert all(torch.equal(a, b) for a, b in zip(rank0, rank1))  # replicas stay in sync


def _torchrun_main(box: list) -> None:
    box.append((comm.get_world_size(), comm.get_rank(), comm.is_dist_initialized()))


def test_torchrun_environment_initialises_from_env(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MASTER_PORT", str(port))
    box: list = []
    launch(_torchrun_main, num_gpus_per_machine=8, args=(box,))  # the environment wins over the flags
    assert box == [(1, 0, True)]
    assert not comm.is_dist_initialized()


def test_single_process_runs_in_place_and_auto_url_needs_one_machine():
    box: list = []
    launch(_torchrun_main, num_gpus_per_machine=1, args=(box,))
    assert box == [(1, 0, False)]
    with pytest.raises(ValueError, match="one machine only"):
        launch(_torchrun_main, num_gpus_per_machine=2, num_machines=2, dist_url="auto")


@pytest.mark.parametrize(
    "cuda,gpus,procs,expected",
    [(False, 0, 2, "gloo"), (True, 8, 8, "nccl"), (True, 1, 2, "gloo"), (True, 2, 1, "nccl")],
)
def test_default_backend_is_nccl_only_when_every_process_gets_a_gpu(monkeypatch, cuda, gpus, procs, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert resolve_backend(None, procs) == expected
    assert resolve_backend("gloo", procs) == "gloo"  # CPU processes on a GPU machine


def test_backend_errors_name_the_value_and_the_choices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'mpi'.*'nccl', 'gloo' or None"):
        resolve_backend("mpi", 1)
    with pytest.raises(ValueError, match="needs CUDA"):
        resolve_backend("nccl", 1)
    with pytest.raises(ValueError, match="'mpi'"):
        launch(_torchrun_main, num_gpus_per_machine=1, args=([],), backend="mpi")
