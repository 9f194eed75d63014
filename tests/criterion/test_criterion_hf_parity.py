"""Parity of matcher and losses with HF transformers' independent ports (same inputs, same points).

Our random draws have the shapes and order of the official code, so seeding the global RNG
identically before both calls fixes the sampled points in both implementations.
"""

import os

import torch

from maskformer.criterion import HungarianMatcher, SetCriterion, make_weight_dict
from tests.helpers.m2f_hf_pair import HF_M2F_LOSS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers.models.mask2former import modeling_mask2former as m2f  # noqa: E402
from transformers.models.maskformer import modeling_maskformer as mf  # noqa: E402

K, Q = 4, 6


def _batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, Q, K + 1, generator=gen)
    masks = torch.randn(2, Q, 8, 8, generator=gen)
    aux = [
        (torch.randn(2, Q, K + 1, generator=gen), torch.randn(2, Q, 8, 8, generator=gen)) for _ in range(2)
    ]
    labels = [torch.tensor([0, 3]), torch.tensor([1, 1, 2])]
    tgt_masks = [(torch.rand(len(lab), 32, 32, generator=gen) > 0.5).float() for lab in labels]
    return logits, masks, aux, labels, tgt_masks


def _ours(logits, masks, labels, tgt_masks, aux=()):
    outputs = {"pred_logits": logits, "pred_masks": masks}
    outputs["aux_outputs"] = [{"pred_logits": c, "pred_masks": m} for c, m in aux]
    targets = [{"labels": lab, "masks": tm.bool()} for lab, tm in zip(labels, tgt_masks)]
    return outputs, targets


def _assert_same_losses(ours, theirs):
    assert len(ours) == len(theirs)
    for key, value in ours.items():
        torch.testing.assert_close(
            value, theirs[key.replace("loss_ce", "loss_cross_entropy")], rtol=1e-5, atol=1e-6
        )


def test_mask2former_losses_and_matching_equal_hf():
    logits, masks, aux, labels, tgt_masks = _batch()
    config = m2f.Mask2FormerConfig(
        num_labels=K,
        train_num_points=50,
        **HF_M2F_LOSS,
    )
    hf_loss = m2f.Mask2FormerLoss(config, {"loss_cross_entropy": 1.0, "loss_mask": 1.0, "loss_dice": 1.0})
    aux_hf = [{"masks_queries_logits": m, "class_queries_logits": c} for c, m in aux]
    torch.manual_seed(123)
    theirs = hf_loss(masks, logits, tgt_masks, labels, aux_hf)
    criterion = SetCriterion(
        num_classes=K,
        matcher=HungarianMatcher(2.0, 5.0, 5.0, num_points=50),
        weight_dict=make_weight_dict(1.0, 1.0, 1.0, True, 2),
        eos_coef=0.1,
        num_points=50,
    )
    torch.manual_seed(123)
    ours = criterion(*_ours(logits, masks, labels, tgt_masks, aux))
    _assert_same_losses(ours, theirs)

    torch.manual_seed(7)
    hf_indices = hf_loss.matcher(masks, logits, tgt_masks, labels)
    torch.manual_seed(7)
    our_indices = criterion.matcher(*_ours(logits, masks, labels, tgt_masks))
    for (p1, t1), (p2, t2) in zip(our_indices, hf_indices):
        assert p1.tolist() == p2.tolist() and t1.tolist() == t2.tolist()


def test_maskformer_losses_and_matching_equal_hf():
    logits, masks, _, labels, tgt_masks = _batch()
    hf_matcher = mf.MaskFormerHungarianMatcher(cost_class=1.0, cost_mask=20.0, cost_dice=1.0)
    hf_loss = mf.MaskFormerLoss(
        num_labels=K,
        matcher=hf_matcher,
        weight_dict={"loss_cross_entropy": 1.0, "loss_mask": 20.0, "loss_dice": 1.0},
        eos_coef=0.1,
    )
    theirs = hf_loss(masks, logits, tgt_masks, labels)
    matcher = HungarianMatcher(1.0, 20.0, 1.0, num_points=0, mask_loss="sigmoid_focal")
    criterion = SetCriterion(
        num_classes=K,
        matcher=matcher,
        weight_dict=make_weight_dict(1.0, 1.0, 1.0),
        eos_coef=0.1,
        mask_loss="sigmoid_focal",
    )
    _assert_same_losses(criterion(*_ours(logits, masks, labels, tgt_masks)), theirs)
    for (p1, t1), (p2, t2) in zip(
        matcher(*_ours(logits, masks, labels, tgt_masks)), hf_matcher(masks, logits, tgt_masks, labels)
    ):
        assert p1.tolist() == p2.tolist() and t1.tolist() == t2.tolist()
