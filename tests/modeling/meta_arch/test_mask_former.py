"""MaskFormer meta-architecture: tiny models train and infer on CPU; official configs give the
official state_dict names and shapes."""


import pytest
import torch

from maskformer.modeling import META_ARCH_REGISTRY, MaskFormer, build_model
from tests.helpers.official_models import build_official, official_keys
from tests.helpers.tiny_maskformer import NUM_CLASSES, THING_IDS, batch, tiny_cfg


@pytest.mark.parametrize(
    "backbone,pixel_decoder,in_feature",
    [
        ("R50", "BasePixelDecoder", "res5"),
        ("R50", "TransformerEncoderPixelDecoder", "transformer_encoder"),
        ("SwinT", "BasePixelDecoder", "pixel_embedding"),
    ],
)
def test_tiny_maskformer_trains_and_infers(backbone, pixel_decoder, in_feature):
    torch.manual_seed(0)
    model = build_model(tiny_cfg(backbone, pixel_decoder, in_feature), thing_ids=THING_IDS)
    losses = model(batch())
    assert {"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_mask_0", "loss_dice_0"} <= set(losses)
    sum(losses.values()).backward()
    assert model.sem_seg_head.predictor.query_embed.weight.grad is not None

    model.eval()
    with torch.no_grad():
        results = model(batch())
    for result, (h, w) in zip(results, [(128, 128), (96, 112)]):
        assert result["sem_seg"].shape == (NUM_CLASSES, h, w) and result["sem_seg"].dtype == torch.float32
        panoptic, segments = result["panoptic_seg"]
        assert panoptic.shape == (h, w) and panoptic.dtype == torch.int32
        assert all({"id", "category_id", "isthing"} <= set(s) for s in segments)
        inst = result["instances"]
        assert inst.image_size == (h, w)
        assert inst.pred_masks.shape[1:] == (h, w) and inst.pred_masks.dtype == torch.bool
        assert inst.pred_boxes.shape == (len(inst), 4) and inst.pred_classes.dtype == torch.int64
        assert set(inst.pred_classes.tolist()) <= {0, 1}  # panoptic on: things only


def test_semantic_postprocess_order_gives_same_shapes_and_close_scores():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
    model = build_model(cfg).eval()
    inputs = batch(((64, 64),))
    with torch.no_grad():
        after = model(inputs)[0]
        model.sem_seg_postprocess_before_inference = True
        before = model(inputs)[0]
    assert set(after) == {"sem_seg"}
    assert before["sem_seg"].shape == after["sem_seg"].shape == (NUM_CLASSES, 128, 128)
    # Resizing is linear but the sigmoid is not: close, not equal.
    assert (before["sem_seg"] - after["sem_seg"]).abs().mean() < 0.1


def test_padding_and_targets():
    model = build_model(tiny_cfg(), thing_ids=THING_IDS)
    images = model.preprocess_image(batch())
    assert images.tensor.shape == (2, 3, 64, 64)
    assert images.image_sizes == [(64, 64), (48, 56)]
    # Padding is zero after normalisation.
    assert images.tensor[1, :, 48:].abs().max() == 0
    targets = model.prepare_targets(batch(), images)
    assert targets[1]["masks"].shape == (2, 64, 64) and targets[1]["masks"].dtype == torch.bool
    assert not targets[1]["masks"][:, 48:].any() and not targets[1]["masks"][:, :, 56:].any()
    torch.testing.assert_close(targets[1]["labels"], torch.tensor([0, 3]))


def test_pixel_stats_are_non_persistent_buffers_and_criterion_is_a_submodule():
    model = build_model(tiny_cfg(), thing_ids=THING_IDS)
    names = set(model.state_dict())
    assert "pixel_mean" not in names and "pixel_std" not in names
    assert "criterion.empty_weight" in names
    assert model.pixel_mean.shape == (3, 1, 1)


@pytest.mark.parametrize(
    "backbone,value,expected", [("SwinT", 0, 0), ("SwinT", -1, 32), ("R50", -1, 0), ("R50", 64, 64)]
)
def test_size_divisibility_follows_the_official_semantics(backbone, value, expected):
    """MODEL.MASK_FORMER.SIZE_DIVISIBILITY: 0 = no padding (MaskFormer COCO panoptic), -1 = the backbone's."""
    cfg = tiny_cfg(backbone)
    cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = value
    assert build_model(cfg, thing_ids=THING_IDS).size_divisibility == expected


def test_swin_without_batch_padding_pads_inside_and_infers():
    torch.manual_seed(0)
    cfg = tiny_cfg("SwinT", in_feature="pixel_embedding")
    cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = 0
    model = build_model(cfg, thing_ids=THING_IDS).eval()
    inputs = batch(((37, 45), (30, 41)))
    assert model.preprocess_image(inputs).tensor.shape[-2:] == (37, 45)  # not rounded up to 64
    with torch.no_grad():
        results = model(inputs)
    assert [r["panoptic_seg"][0].shape for r in results] == [(74, 90), (60, 82)]


def test_missing_instances_and_criterion_errors():
    model = build_model(tiny_cfg(), thing_ids=THING_IDS)
    inputs = batch()
    del inputs[0]["instances"]
    with pytest.raises(KeyError, match="has no 'instances'"):
        model(inputs)
    kwargs = MaskFormer.from_config(tiny_cfg(), thing_ids=THING_IDS)
    bare = MaskFormer(**kwargs)
    with pytest.raises(RuntimeError, match="without a criterion"):
        bare(batch())


def test_bad_transformer_in_feature():
    with pytest.raises(ValueError, match="TRANSFORMER_IN_FEATURE='res6'"):
        build_model(tiny_cfg(in_feature="res6"), thing_ids=THING_IDS)
    with pytest.raises(ValueError, match="TransformerEncoderPixelDecoder"):
        build_model(tiny_cfg(in_feature="transformer_encoder"), thing_ids=THING_IDS).eval()(batch())


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "mf_R50_ade20k_semantic",
        "mf_R50_coco_panoptic",
        "m2f_R50_coco_panoptic",
        "m2f_R50_coco_instance",
        "m2f_R50_ade20k_semantic",
        "m2f_swinT_coco_panoptic",
    ],
)
def test_official_configs_give_official_state_dict(name):
    # Loaded unchanged: MaskFormer-era files get the standard decoder from the config loader.
    model = build_official(name)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == official_keys(name)
    if name == "m2f_R50_coco_panoptic":  # the count the reference README gives
        assert sum(p.numel() for p in model.parameters()) == 43_983_878


def test_thing_ids_are_never_guessed():
    assert build_model(tiny_cfg(), thing_ids={2, 0}).thing_ids == [0, 2]
    with pytest.raises(ValueError, match="PANOPTIC_ON\\) needs the thing classes"):
        build_model(tiny_cfg())
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\)"):
        build_model(tiny_cfg(), thing_ids=[4])
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = False  # semantic + instance: thing ids play no part
    assert build_model(cfg).thing_ids == []


def test_thing_ids_come_from_the_registered_test_dataset():
    from maskformer.data import MetadataCatalog

    name = "test_mask_former_things_val"
    MetadataCatalog.get(name).set(
        stuff_classes=["a", "b", "c", "d"], thing_dataset_id_to_contiguous_id={7: 1, 9: 3}
    )
    cfg = tiny_cfg()
    cfg.DATASETS.TEST = ("not_registered", name)
    try:
        assert build_model(cfg).thing_ids == [1, 3]
    finally:
        MetadataCatalog.remove(name)


def test_registered():
    assert "MaskFormer" in META_ARCH_REGISTRY and "SemanticSegmentor" in META_ARCH_REGISTRY
