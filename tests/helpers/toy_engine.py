"""A toy model, data stream and Trainer subclass for engine tests (CPU, a few ms per step)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.engine import HookBase, Trainer
from maskformer.utils.env import seed_all_rng


class ToyModel(nn.Module):
    """A backbone, a norm, learned queries and dropout; draws Python, NumPy and torch numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8))
        self.query_feat = nn.Embedding(3, 8)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(8, 2)

    def forward(self, batch: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        device = self.head.weight.device
        x = torch.stack([d["x"] for d in batch]).to(device)
        hidden = self.dropout(self.backbone(x)) + self.query_feat.weight.mean(0)
        # Randomness from every global generator, so that resuming must restore all of them.
        noise = torch.from_numpy(np.random.rand(*hidden.shape)).float().to(device)
        hidden = hidden + 1e-2 * noise * random.random()
        out = self.head(hidden)
        if not self.training:
            return [{"pred": o} for o in out]
        y = torch.stack([d["y"] for d in batch]).to(device)
        return {"loss_a": (out[:, 0] - y).square().mean(), "loss_b": 0.5 * out[:, 1].abs().mean()}


def toy_stream(start_iter: int = 0, batch_size: int = 2):
    """An infinite stream whose batch ``i`` depends only on ``i`` (like a seeded sampler)."""
    it = start_iter
    while True:
        g = torch.Generator().manual_seed(1000 + it)
        yield [
            {"x": torch.randn(4, generator=g), "y": torch.randn((), generator=g)} for _ in range(batch_size)
        ]
        it += 1


class _ToyStream(torch.utils.data.IterableDataset):
    def __init__(self, start_iter: int) -> None:
        self.start_iter = start_iter

    def __iter__(self):
        return toy_stream(self.start_iter)


def toy_loader(start_iter: int = 0) -> torch.utils.data.DataLoader:
    """``toy_stream`` through a real DataLoader, which draws from torch's RNG when iterated."""
    return torch.utils.data.DataLoader(_ToyStream(start_iter), batch_size=None, num_workers=0)


class ToyTrainer(Trainer):
    """Trainer with the toy model and data; ``test`` returns a made-up metric."""

    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        return ToyModel().to(cfg.MODEL.DEVICE)

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        return toy_loader(start_iter)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        return {"toy": {"score": 42.0, "count": 3}}


def toy_cfg(output_dir: str, max_iter: int = 6):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = output_dir
    cfg.MODEL.DEVICE = "cpu"
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.CHECKPOINT_PERIOD = 3
    cfg.SOLVER.BASE_LR = 0.05
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupPolyLR"
    cfg.SOLVER.WARMUP_ITERS = 2
    cfg.SOLVER.AMP.ENABLED = False
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.5
    cfg.TEST.EVAL_PERIOD = 0
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    return cfg


class Crash(HookBase):
    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_step(self) -> None:
        if self.trainer.iter == self.at_iter:
            raise RuntimeError("simulated crash")


def run_interrupted_and_straight(tmp_path, cfg_fn) -> tuple[ToyTrainer, ToyTrainer]:
    """Trains 6 iterations straight, and 6 with a crash at 4 and a resume from the checkpoint at 2."""
    seed_all_rng(0)
    straight = ToyTrainer(cfg_fn(str(tmp_path / "a")))
    straight.resume_or_load(resume=True)
    straight.train()

    seed_all_rng(0)
    first = ToyTrainer(cfg_fn(str(tmp_path / "b")))
    first.register_hooks([Crash(at_iter=4)])  # dies after the checkpoint of iteration 2
    first.resume_or_load(resume=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        first.train()
    assert first.checkpointer.get_checkpoint_file().endswith("model_0000002.pth")

    seed_all_rng(1)  # a different process state; the checkpoint must restore everything
    resumed = ToyTrainer(cfg_fn(str(tmp_path / "b")))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 3
    resumed.train()
    return straight, resumed
