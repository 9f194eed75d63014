"""TEST.PRECISE_BN: Detectron2's PreciseBN hook on a toy model with a BatchNorm layer."""

import torch
from torch import nn

from maskformer.engine.precise_bn import PreciseBN
from tests.helpers.toy_engine import ToyTrainer, toy_cfg, toy_stream


class BNModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.5))
        self.head = nn.Linear(3, 1)

    def forward(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        x = torch.stack([d["x"] for d in batch])
        y = torch.stack([d["y"] for d in batch])
        return {"loss": (self.head(self.backbone(x))[:, 0] - y).square().mean()}


class BNTrainer(ToyTrainer):
    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        torch.manual_seed(0)
        return BNModel()


def _cfg(tmp_path, enabled: bool = True):
    cfg = toy_cfg(str(tmp_path), max_iter=4)
    cfg.SOLVER.CHECKPOINT_PERIOD = 100
    cfg.TEST.EVAL_PERIOD = 2
    cfg.TEST.PRECISE_BN.ENABLED = enabled
    cfg.TEST.PRECISE_BN.NUM_ITER = 3
    return cfg


def test_statistics_are_the_mean_over_the_last_batches(tmp_path):
    trainer = BNTrainer(_cfg(tmp_path))
    assert any(isinstance(h, PreciseBN) for h in trainer._hooks)
    trainer.train()
    # Recomputed after iterations 2 and 4 from one stream of a fresh loader: the last time over its
    # batches 3, 4, 5, with the final weights. Mean of per-batch means (equal batch sizes).
    linear, bn = trainer.model.backbone
    stream = toy_stream(0)
    batches = [next(stream) for _ in range(6)][3:]
    with torch.no_grad():
        means = [linear(torch.stack([d["x"] for d in b])).mean(0) for b in batches]
    torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0))
    assert bn.training  # the model's mode is left alone


def test_disabled_or_without_batchnorm_no_hook(tmp_path):
    assert not any(isinstance(h, PreciseBN) for h in BNTrainer(_cfg(tmp_path, enabled=False))._hooks)
    toy = ToyTrainer(_cfg(tmp_path / "toy"))  # LayerNorm only
    assert not any(isinstance(h, PreciseBN) for h in toy._hooks)
