"""Mixed precision on CUDA: float16 with a GradScaler, and exact resume of scaler and CUDA RNG."""

import pytest
import torch
from torch import nn

from maskformer.engine import AMPTrainer
from maskformer.solver import build_grad_clipper
from maskformer.utils.events import EventStorage
from tests.helpers.toy_engine import run_interrupted_and_straight, toy_cfg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class _Quadratic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, batch):
        out = self.lin(batch)
        assert out.dtype == torch.float16  # the forward runs under fp16 autocast
        return {"loss": out.float().square().mean()}


def test_float16_step_uses_a_grad_scaler_and_clips_unscaled_gradients():
    torch.manual_seed(0)
    model = _Quadratic().to("cuda")
    batches = [torch.randn(4, 8, device="cuda") for _ in range(3)]
    norms = []

    def clip(params):
        params = list(params)
        norms.append(float(torch.cat([p.grad.flatten() for p in params]).norm()))
        build_grad_clipper("full_model", 0.01)(params)

    trainer = AMPTrainer(
        model, batches, torch.optim.SGD(model.parameters(), lr=0.1), clip, precision="float16"
    )
    assert trainer.grad_scaler is not None
    before = [p.detach().clone() for p in model.parameters()]
    with EventStorage() as storage:
        for _ in range(3):
            trainer.run_step()
            storage.step()
    # Unscaled gradient norms are O(1), not multiplied by the scale (65536 initially).
    assert all(0 < n < 100 for n in norms)
    moved = sum(float((p - b).norm()) for p, b in zip(model.parameters(), before))
    assert 0 < moved <= 3 * 0.1 * 0.01 * 1.0001
    assert "grad_scaler" in trainer.state_dict() and trainer.state_dict()["grad_scaler"]["scale"] > 0


def _cuda_amp_cfg(output_dir):
    cfg = toy_cfg(output_dir)
    cfg.MODEL.DEVICE = "cuda"
    cfg.SOLVER.AMP.ENABLED = True
    cfg.SOLVER.AMP.PRECISION = "float16"
    return cfg


def test_cuda_float16_resume_matches_uninterrupted_run(tmp_path):
    straight, resumed = run_interrupted_and_straight(tmp_path, _cuda_amp_cfg)
    assert type(straight._trainer).__name__ == "AMPTrainer"
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert straight._trainer.grad_scaler.state_dict() == resumed._trainer.grad_scaler.state_dict()
