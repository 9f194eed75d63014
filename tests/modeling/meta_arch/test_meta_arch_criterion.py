"""Every meta-architecture gets its criterion from CRITERION_REGISTRY (through build_model)."""

import pytest
import torch
from torch import nn

from maskformer.criterion import CRITERION_REGISTRY, PerPixelCrossEntropy, SetCriterion
from maskformer.modeling import META_ARCH_REGISTRY, build_model
from tests.helpers.tiny_maskformer import NUM_CLASSES, THING_IDS, batch, tiny_cfg


def _per_pixel_cfg():
    cfg = tiny_cfg()
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "PerPixelBaselineHead"
    return cfg


# One tiny config per registered meta-architecture, with the criterion it gets by default.
CASES = {"MaskFormer": (tiny_cfg, SetCriterion), "SemanticSegmentor": (_per_pixel_cfg, PerPixelCrossEntropy)}


def test_every_registered_meta_architecture_is_covered():
    assert set(CASES) == set(META_ARCH_REGISTRY.keys())


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_criterion_per_meta_architecture(name):
    make_cfg, criterion_cls = CASES[name]
    model = build_model(make_cfg(), thing_ids=THING_IDS)
    assert type(model.criterion) is criterion_cls


class _CountingCriterion(nn.Module):
    """A researcher's criterion: the mean of every tensor prediction, whatever the model."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, outputs: dict, targets) -> dict[str, torch.Tensor]:
        self.calls += 1
        return {"loss_mean": sum(v.mean() for v in outputs.values() if torch.is_tensor(v))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_registered_criterion_trains_every_meta_architecture(name):
    CRITERION_REGISTRY.register(_CountingCriterion)
    try:
        cfg = CASES[name][0]()
        cfg.MODEL.CRITERION.NAME = "_CountingCriterion"
        model = build_model(cfg, thing_ids=THING_IDS)
    finally:
        CRITERION_REGISTRY.unregister("_CountingCriterion")
    inputs = batch()
    for x in inputs:  # the per-pixel model trains from semantic labels
        x["sem_seg"] = torch.randint(0, NUM_CLASSES, x["image"].shape[-2:])
    losses = model(inputs)
    assert set(losses) == {"loss_mean"} and model.criterion.calls == 1
    losses["loss_mean"].backward()


def test_inference_only_model_refuses_to_train():
    model = build_model(tiny_cfg(), thing_ids=THING_IDS)
    model.criterion = None
    with pytest.raises(RuntimeError, match="without a criterion"):
        model(batch())
