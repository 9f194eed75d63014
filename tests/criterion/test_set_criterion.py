"""SetCriterion: exact values on a handmade case, deep supervision, normalisation, optimisation."""

import math

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.criterion import (
    HungarianMatcher,
    SetCriterion,
    build_criterion,
    dice_loss,
    make_weight_dict,
    point_sample,
    sigmoid_ce_loss,
)
from maskformer.criterion import set_criterion as criterion_module

LN2, LN3 = math.log(2.0), math.log(3.0)


def _handmade():
    """Two queries, K = 2; query 1 is the better match for the single target (class 1)."""
    logits = torch.tensor([[[0.0, 0.0, 0.0], [0.0, LN2, 0.0]]])  # softmax q1 = [1/4, 1/2, 1/4]
    masks = torch.zeros(1, 2, 2, 2)  # sigmoid = 0.5 everywhere
    target = {"labels": torch.tensor([1]), "masks": torch.tensor([[[1, 0], [0, 0]]], dtype=torch.bool)}
    return {"pred_logits": logits, "pred_masks": masks}, [target]


def _criterion(mask_loss="sigmoid_ce", num_points=0, aux_layers=0, **kwargs):
    return SetCriterion(
        num_classes=2,
        matcher=HungarianMatcher(2.0, 5.0, 5.0, num_points=num_points, mask_loss=mask_loss),
        weight_dict=make_weight_dict(2.0, 5.0, 5.0, True, aux_layers),
        eos_coef=0.1,
        num_points=num_points,
        mask_loss=mask_loss,
        **kwargs,
    )


def test_exact_values_full_masks_bce():
    outputs, targets = _handmade()
    losses = _criterion()(outputs, targets)
    assert set(losses) == {"loss_ce", "loss_mask", "loss_dice"}
    # CE: q0 -> no object (weight 0.1, -log 1/3), q1 -> class 1 (-log 1/2); weighted mean.
    assert losses["loss_ce"].item() == pytest.approx(2.0 * (0.1 * LN3 + LN2) / 1.1, rel=1e-6)
    assert losses["loss_mask"].item() == pytest.approx(5.0 * LN2, rel=1e-6)
    # Dice: 1 - (2 * 0.5 + 1) / (4 * 0.5 + 1 + 1) = 0.5.
    assert losses["loss_dice"].item() == pytest.approx(5.0 * 0.5, rel=1e-6)


def test_exact_values_full_masks_focal():
    outputs, targets = _handmade()
    losses = _criterion(mask_loss="sigmoid_focal")(outputs, targets)
    # One positive pixel (0.25 * 0.25 * ln2) and three negatives (0.75 * 0.25 * ln2), mean of 4.
    assert losses["loss_mask"].item() == pytest.approx(5.0 * (0.0625 + 3 * 0.1875) * LN2 / 4, rel=1e-6)


def test_predictions_are_upsampled_to_the_target_size():
    outputs, targets = _handmade()
    outputs["pred_masks"] = torch.tensor([[[[4.0, -4.0], [-4.0, -4.0]]] * 2])
    big = targets[0]["masks"].repeat_interleave(4, 1).repeat_interleave(4, 2)  # [1, 8, 8]
    losses = _criterion()(outputs, [{"labels": targets[0]["labels"], "masks": big}])
    up = torch.nn.functional.interpolate(outputs["pred_masks"][:, 1:], size=(8, 8), mode="bilinear")
    expected = sigmoid_ce_loss(up.flatten(1), big.flatten(1).float(), 1.0)
    assert losses["loss_mask"].item() == pytest.approx(5.0 * expected.item(), rel=1e-6)


def test_point_losses_replay_the_sampling():
    gen = torch.Generator().manual_seed(0)
    outputs = {
        "pred_logits": torch.randn(1, 3, 3, generator=gen),
        "pred_masks": torch.randn(1, 3, 4, 4, generator=gen),
    }
    targets = [{"labels": torch.tensor([0, 1]), "masks": torch.rand(2, 16, 16, generator=gen) > 0.5}]
    criterion = _criterion(num_points=8, oversample_ratio=2.0, importance_sample_ratio=0.5)
    losses = criterion(outputs, targets, generator=torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    pts = [torch.rand(1, 8, 2, generator=replay)[0]]  # the matcher's uniform points
    pred_idx, tgt_idx = criterion.matcher.match_at_points(outputs, targets, pts)[0]
    src = outputs["pred_masks"][0, pred_idx][:, None]
    candidates = torch.rand(2, 16, 2, generator=replay)
    unc = -point_sample(src, candidates)[:, 0].abs()
    top = unc.topk(4, dim=1).indices
    coords = torch.cat(
        [
            torch.gather(candidates, 1, top[..., None].expand(-1, -1, 2)),
            torch.rand(2, 4, 2, generator=replay),
        ],
        1,
    )
    logits = point_sample(src, coords)[:, 0]
    labels = point_sample(targets[0]["masks"][tgt_idx][:, None].float(), coords)[:, 0]
    assert losses["loss_mask"].item() == pytest.approx(
        5.0 * sigmoid_ce_loss(logits, labels, 2.0).item(), rel=1e-5
    )
    assert losses["loss_dice"].item() == pytest.approx(5.0 * dice_loss(logits, labels, 2.0).item(), rel=1e-5)


def test_deep_supervision_keys_and_weights():
    outputs, targets = _handmade()
    outputs["aux_outputs"] = [{k: v.clone() for k, v in outputs.items()} for _ in range(3)]
    losses = _criterion(aux_layers=3)(outputs, targets)
    assert set(losses) == {f"loss_{n}{s}" for n in ("ce", "mask", "dice") for s in ("", "_0", "_1", "_2")}
    for suffix in ("_0", "_1", "_2"):
        torch.testing.assert_close(losses["loss_ce" + suffix], losses["loss_ce"])
    # Auxiliary layers without weights (e.g. DEEP_SUPERVISION off) are neither matched nor returned.
    assert set(_criterion(aux_layers=1)(outputs, targets)) == {
        f"loss_{n}{s}" for n in ("ce", "mask", "dice") for s in ("", "_0")
    }


def test_losses_are_means_over_target_masks():
    outputs, targets = _handmade()
    single = _criterion()(outputs, targets)
    doubled = _criterion()(
        {k: torch.cat([v, v]) for k, v in outputs.items()},
        targets * 2,
    )
    for key in single:
        torch.testing.assert_close(doubled[key], single[key])


def test_num_masks_is_averaged_over_processes(monkeypatch):
    monkeypatch.setattr(criterion_module.comm, "all_reduce_sum", lambda t: t * 6)  # 6 masks in total
    monkeypatch.setattr(criterion_module.comm, "get_world_size", lambda: 2)
    outputs, targets = _handmade()
    losses = _criterion()(outputs, targets)
    assert losses["loss_mask"].item() == pytest.approx(5.0 * LN2 / 3, rel=1e-6)


def test_no_targets_gives_zero_mask_losses_with_gradient():
    masks = torch.randn(2, 3, 4, 4, requires_grad=True)
    logits = torch.randn(2, 3, 3, requires_grad=True)
    empty = {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 8, 8, dtype=torch.bool)}
    for num_points in (0, 6):
        losses = _criterion(num_points=num_points)(
            {"pred_logits": logits, "pred_masks": masks}, [empty, empty]
        )
        assert losses["loss_mask"].item() == 0.0 and losses["loss_dice"].item() == 0.0
        sum(losses.values()).backward()
        assert masks.grad is not None and torch.isfinite(logits.grad).all()


def test_empty_weight_buffer():
    criterion = _criterion()
    assert criterion.state_dict()["empty_weight"].tolist() == pytest.approx([1.0, 1.0, 0.1])


@pytest.mark.parametrize("mask_loss, num_points", [("sigmoid_focal", 0), ("sigmoid_ce", 32)])
def test_losses_fall_when_optimising_free_predictions(mask_loss, num_points):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 4, generator=gen).requires_grad_()
    masks = torch.randn(2, 4, 8, 8, generator=gen).requires_grad_()
    # Blocky targets (4 x 4 cells of 4 x 4 pixels) that an 8 x 8 prediction can represent.
    blocks = (torch.rand(3, 4, 4, generator=gen) > 0.5).repeat_interleave(4, 1).repeat_interleave(4, 2)
    targets = [
        {"labels": torch.tensor([0, 2]), "masks": blocks[:2]},
        {"labels": torch.tensor([1]), "masks": blocks[2:]},
    ]
    criterion = SetCriterion(
        num_classes=3,
        matcher=HungarianMatcher(1.0, 20.0, 1.0, num_points=num_points, mask_loss=mask_loss),
        weight_dict=make_weight_dict(1.0, 20.0, 1.0),
        eos_coef=0.1,
        num_points=num_points,
        mask_loss=mask_loss,
    )
    optimizer = torch.optim.Adam([logits, masks], lr=0.1)
    history = []
    for step in range(40):
        loss = sum(
            criterion(
                {"pred_logits": logits, "pred_masks": masks}, targets, torch.Generator().manual_seed(step)
            ).values()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    # Point losses keep a floor: importance sampling concentrates on the blurred block edges.
    assert sum(history[-5:]) < 0.7 * sum(history[:5])


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="Unknown losses"):
        _criterion(losses=("labels", "contours"))


def test_build_criterion_from_config():
    cfg = get_cfg()
    mf = cfg.MODEL.MASK_FORMER
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 7
    mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.NO_OBJECT_WEIGHT = 2.0, 5.0, 5.0, 0.1
    mf.DEC_LAYERS, mf.DEEP_SUPERVISION, mf.TRAIN_NUM_POINTS = 10, True, 12544
    criterion = build_criterion(cfg)
    assert criterion.empty_weight.shape == (8,) and criterion.num_points == 12544
    assert len(criterion.weight_dict) == 3 * 10 and criterion.weight_dict["loss_dice_8"] == 5.0
    assert criterion.matcher.cost_class == 2.0
    mf.DEEP_SUPERVISION = False
    assert set(build_criterion(cfg).weight_dict) == {"loss_ce", "loss_mask", "loss_dice"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_autocast_matches_fp32():
    gen = torch.Generator().manual_seed(0)
    outputs = {
        "pred_logits": torch.randn(2, 4, 3, generator=gen),  # 2 classes + no-object
        "pred_masks": torch.randn(2, 4, 8, 8, generator=gen),
    }
    targets = [{"labels": torch.tensor([0, 1]), "masks": torch.rand(2, 32, 32, generator=gen) > 0.5}] * 2
    # Round to fp16 first so that both runs see the same values (and choose the same points).
    outputs = {k: v.half().float().cuda() for k, v in outputs.items()}
    targets = [{k: v.cuda() for k, v in t.items()} for t in targets]
    criterion = _criterion(num_points=16).cuda()
    expected = criterion(outputs, targets, torch.Generator(device="cuda").manual_seed(1))
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        half = {k: v.half() for k, v in outputs.items()}
        got = criterion(half, targets, torch.Generator(device="cuda").manual_seed(1))
    for key, value in expected.items():
        assert got[key].dtype == torch.float32
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("label", [2, 7, -1])
def test_out_of_range_targets_name_num_classes(label):
    outputs, targets = _handmade()  # K = 2: valid ids are 0 and 1
    targets[0]["labels"] = torch.tensor([label])
    message = rf"\[{label}\] are outside \[0, 2\).*MODEL.SEM_SEG_HEAD.NUM_CLASSES is 2"
    with pytest.raises(ValueError, match=message):
        _criterion()(outputs, targets)
