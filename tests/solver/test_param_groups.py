"""Which parameter gets which lr and weight decay."""

import pytest
import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.solver import build_optimizer, get_default_optimizer_params


class _SwinBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.zeros(5, 2))
        self.norm1 = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.absolute_pos_embed = nn.Parameter(torch.zeros(1, 4))
        self.block = _SwinBlock()
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


class _Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query_feat = nn.Embedding(3, 4)
        self.query_embed = nn.Embedding(3, 4)
        self.level_embed = nn.Parameter(torch.zeros(3, 4))
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.proj = nn.Linear(4, 4)


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.decoder = _Decoder()
        self.shared = self.decoder.proj  # the same parameters reachable twice
        self.not_backbone = nn.Linear(2, 2)  # name starts with "backbone"-like text but is not one


def _assignment(model: nn.Module, groups: list[dict]) -> dict[str, tuple[float, float]]:
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if id(p) in by_id}


def test_each_parameter_gets_the_official_hyperparameters():
    model = _Model()
    groups = get_default_optimizer_params(
        model,
        base_lr=1.0,
        weight_decay=0.05,
        weight_decay_norm=0.01,
        weight_decay_embed=0.02,
        backbone_multiplier=0.1,
    )
    got = _assignment(model, groups)
    bb, wd, norm, embed = 0.1, 0.05, 0.01, 0.02
    expected = {
        "backbone.conv.weight": (bb, wd),
        "backbone.conv.bias": (bb, wd),
        "backbone.bn.weight": (bb, norm),
        "backbone.bn.bias": (bb, norm),
        "backbone.absolute_pos_embed": (bb, 0.0),
        "backbone.block.relative_position_bias_table": (bb, 0.0),
        "backbone.block.norm1.weight": (bb, norm),
        "backbone.block.norm1.bias": (bb, norm),
        "backbone.block.fc.weight": (bb, wd),
        "backbone.block.fc.bias": (bb, wd),
        "decoder.query_feat.weight": (1.0, embed),
        "decoder.query_embed.weight": (1.0, embed),
        "decoder.level_embed": (1.0, wd),  # an nn.Parameter, not an nn.Embedding
        "decoder.gn.weight": (1.0, norm),
        "decoder.gn.bias": (1.0, norm),
        "decoder.inorm.weight": (1.0, norm),
        "decoder.inorm.bias": (1.0, norm),
        "decoder.proj.weight": (1.0, wd),
        "decoder.proj.bias": (1.0, wd),
        "not_backbone.weight": (1.0, wd),
        "not_backbone.bias": (1.0, wd),
    }
    assert got.keys() == expected.keys()
    for name, (lr_scale, decay) in expected.items():
        assert got[name] == (pytest.approx(lr_scale), pytest.approx(decay)), name


def test_embed_decay_goes_to_embedding_modules_only():
    """Official rule: ``isinstance(module, nn.Embedding)``; a parameter's name does not count."""
    from maskformer.modeling.pixel_decoder.msdeformattn import MSDeformAttnEncoder

    model = nn.Module()
    model.pixel_decoder = MSDeformAttnEncoder(8, 2, 0, 16, 0.0, num_feature_levels=3)
    model.predictor = nn.Module()
    model.predictor.level_embed = nn.Embedding(3, 8)
    model.predictor.query_feat = nn.Parameter(torch.zeros(2, 8))
    groups = get_default_optimizer_params(model, base_lr=1.0, weight_decay=0.05, weight_decay_embed=0.0)
    assert _assignment(model, groups) == {
        "pixel_decoder.level_embed": (1.0, 0.05),
        "predictor.query_feat": (1.0, 0.05),
        "predictor.level_embed.weight": (1.0, 0.0),
    }


def test_no_duplicates_no_frozen_and_merged_groups():
    model = _Model()
    groups = get_default_optimizer_params(model, base_lr=1.0, weight_decay=0.05, backbone_multiplier=0.1)
    params = [p for g in groups for p in g["params"]]
    assert len(params) == len({id(p) for p in params})
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in params} == trainable
    keys = [(g["lr"], g["weight_decay"]) for g in groups]
    assert len(keys) == len(set(keys))


def test_bias_rules_follow_detectron2_keys():
    model = nn.Sequential(nn.Linear(2, 2))
    groups = get_default_optimizer_params(model, 1.0, 0.05, bias_lr_factor=2.0, weight_decay_bias=0.0)
    got = _assignment(model, groups)
    assert got == {"0.weight": (1.0, 0.05), "0.bias": (2.0, 0.0)}


@pytest.mark.parametrize("name,cls", [("ADAMW", torch.optim.AdamW), ("SGD", torch.optim.SGD)])
def test_build_optimizer_from_config(name, cls):
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = name
    cfg.SOLVER.BASE_LR = 0.5
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    optimizer = build_optimizer(cfg, _Model())
    assert isinstance(optimizer, cls)
    assert sorted({g["lr"] for g in optimizer.param_groups}) == pytest.approx([0.05, 0.5])


def test_unknown_optimizer_is_a_clear_error():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = "LAMB"
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER='LAMB'.*ADAMW"):
        build_optimizer(cfg, _Model())
