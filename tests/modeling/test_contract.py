"""A tiny MaskFormer keeps the input / loss / result contract of maskformer.modeling.contract."""

import torch

from maskformer.modeling import build_model
from maskformer.modeling.contract import ModelInput, PanopticSegment, SegmentationResult
from maskformer.utils.env import seed_all_rng
from tests.helpers.tiny_maskformer import NUM_CLASSES, THING_IDS, batch, tiny_cfg


def test_losses_and_results_have_the_documented_names_dtypes_and_shapes():
    seed_all_rng(0)
    model = build_model(tiny_cfg(), thing_ids=THING_IDS)
    inputs = batch()
    assert all(ModelInput.__required_keys__ <= set(x) for x in inputs)
    losses = model(inputs)
    names = {"loss_ce", "loss_mask", "loss_dice"}
    assert set(losses) == names | {f"{n}_0" for n in names}  # DEC_LAYERS 2: one auxiliary layer
    assert all(v.dtype == torch.float32 and v.shape == () for v in losses.values())

    model.eval()
    with torch.no_grad():
        results = model(inputs)
    assert len(results) == len(inputs)
    for x, result in zip(inputs, results):
        h, w = x["height"], x["width"]
        assert set(result) == SegmentationResult.__optional_keys__
        assert result["sem_seg"].dtype == torch.float32 and result["sem_seg"].shape == (NUM_CLASSES, h, w)
        segments, info = result["panoptic_seg"]
        assert segments.dtype == torch.int32 and segments.shape == (h, w)
        assert all(set(s) == set(PanopticSegment.__annotations__) for s in info)
        assert {int(i) for i in segments.unique()} <= {0} | {s["id"] for s in info}
        inst = result["instances"]
        n = len(inst)
        assert inst.image_size == (h, w) and inst.pred_masks.dtype == torch.bool
        assert inst.pred_masks.shape == (n, h, w) and inst.pred_boxes.shape == (n, 4)
        assert inst.scores.dtype == inst.pred_boxes.dtype == torch.float32
        assert inst.pred_classes.dtype == torch.int64
