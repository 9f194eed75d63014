"""MaskFormer Table 5, matching by box: the box head and box matching train from the config."""

import pytest
import torch

from maskformer.modeling import build_model
from tests.helpers.tiny_maskformer import THING_IDS, batch, tiny_cfg


def test_box_head_and_box_matching_train_from_the_config():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.BOX_HEAD = True
    cfg.MODEL.MASK_FORMER.MATCHER = "BoxHungarianMatcher"
    model = build_model(cfg, thing_ids=THING_IDS)
    losses = model(batch())
    assert {"loss_bbox", "loss_giou", "loss_bbox_0", "loss_giou_0", "loss_mask"} <= set(losses)
    sum(losses.values()).backward()
    assert model.sem_seg_head.predictor.bbox_embed.layers[0].weight.grad is not None


def test_box_matching_without_a_box_head_is_refused():
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.MATCHER = "BoxHungarianMatcher"
    with pytest.raises(ValueError, match="BOX_HEAD True"):
        build_model(cfg, thing_ids=THING_IDS)
