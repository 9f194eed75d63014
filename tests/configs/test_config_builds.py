"""Every config of configs/ builds its model and criterion, with the structure its keys describe.

Official-size models are built with the random initialisers skipped (see ``zoo_build``), so all of
them, Swin-L included, build in well under a second each; their parameter counts are compared with
the numbers the MaskFormer and Mask2Former papers report. The tiny ``configs/shapes`` models are built
for real and run once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from maskformer.criterion import PerPixelCrossEntropy, build_criterion
from maskformer.data import register_builtin_datasets
from maskformer.modeling import (
    PIXEL_DECODER_REGISTRY,
    TRANSFORMER_DECODER_REGISTRY,
    D2SwinTransformer,
    MultiScaleMaskedTransformerDecoder,
    PerPixelBaselineHead,
    PerPixelBaselinePlusHead,
    ResNet,
    StandardTransformerDecoder,
    build_model,
)
from maskformer.structures import Instances
from tests.helpers.paths import CONFIGS, REFERENCE
from tests.helpers.zoo_build import (
    RESNET_STAGE_BLOCKS,
    backbone_class,
    base_files,
    build_for_counting,
    build_on_meta,
    fragment_configs,
    is_complete,
    is_fragment,
    leaf_configs,
    load_cfg,
    num_parameters,
    rel,
)

LEAVES = leaf_configs()
# The models take their thing classes from the metadata of the configs' datasets (no files needed).
register_builtin_datasets()
SHAPES = [p for p in LEAVES if rel(p).startswith("shapes/")]
ABLATIONS = [p for p in LEAVES if rel(p).startswith("ablations/")]

# #params. of the papers, in millions: MaskFormer Table 1 (ADE20K-150) and Table 3 (COCO panoptic),
# Mask2Former Table 1 (COCO panoptic) and Table 2 (COCO instance).
PAPER_PARAMS_M = {
    "maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml": 41,
    "maskformer/ade20k-150/maskformer_R101_bs16_160k.yaml": 60,
    "maskformer/ade20k-150/maskformer_R101c_bs16_160k.yaml": 60,
    "maskformer/ade20k-150/swin/maskformer_swin_tiny_bs16_160k.yaml": 42,
    "maskformer/ade20k-150/swin/maskformer_swin_small_bs16_160k.yaml": 63,
    "maskformer/ade20k-150/swin/maskformer_swin_base_IN21k_384_bs16_160k_res640.yaml": 102,
    "maskformer/ade20k-150/swin/maskformer_swin_large_IN21k_384_bs16_160k_res640.yaml": 212,
    "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml": 45,
    "maskformer/coco-panoptic/maskformer_panoptic_R101_bs64_554k.yaml": 64,
    "maskformer/coco-panoptic/swin/maskformer_panoptic_swin_tiny_bs64_554k.yaml": 42,
    "maskformer/coco-panoptic/swin/maskformer_panoptic_swin_small_bs64_554k.yaml": 63,
    "maskformer/coco-panoptic/swin/maskformer_panoptic_swin_base_IN21k_384_bs64_554k.yaml": 102,
    "maskformer/coco-panoptic/swin/maskformer_panoptic_swin_large_IN21k_384_bs64_554k.yaml": 212,
    "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml": 44,
    "coco/panoptic-segmentation/maskformer2_R101_bs16_50ep.yaml": 63,
    "coco/panoptic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml": 216,
    "coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml": 44,
    "coco/instance-segmentation/maskformer2_R101_bs16_50ep.yaml": 63,
    "coco/instance-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml": 216,
}
OFFICIAL = REFERENCE / "official_resolved"
# The one count published exactly (official code, reference README).
OFFICIAL_EXACT = {"coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml": 43_983_878}


# ---------------------------------------------------------------------------------------------
# The fragment rule


def test_rule_splits_the_tree():
    assert len(LEAVES) + len(fragment_configs()) == len(list(CONFIGS.rglob("*.yaml")))
    assert SHAPES and ABLATIONS


def test_leaves_are_the_official_leaves_plus_shapes_and_ablations():
    """The official files a user runs (all but their Base-* files) are exactly our leaves outside
    configs/shapes and configs/ablations."""
    official = {
        (
            CONFIGS
            / ("maskformer" if repo == "maskformer" else "")
            / p.relative_to(OFFICIAL / repo / "configs")
        )
        for repo in ("mask2former", "maskformer")
        for p in (OFFICIAL / repo / "configs").rglob("*.yaml")
        if not p.name.startswith("Base-")
    }
    assert set(LEAVES) - set(SHAPES) - set(ABLATIONS) == official


@pytest.mark.parametrize("path", LEAVES, ids=rel)
def test_every_leaf_is_complete(path: Path):
    cfg = load_cfg(path)
    assert is_complete(cfg), (cfg.MODEL.META_ARCHITECTURE, cfg.DATASETS.TRAIN)


@pytest.mark.parametrize("path", fragment_configs(), ids=rel)
def test_fragments_leave_out_nothing_runnable(path: Path):
    """A fragment is named in some file's ``_BASE_``; one that is complete on its own builds the same
    model as a leaf built on it, so building the leaves builds it too."""
    children = [p for p in CONFIGS.rglob("*.yaml") if path.resolve() in base_files(p)]
    assert children, f"{rel(path)} is named in no _BASE_: a leaf must not be named Base-* or live in common/"
    cfg = load_cfg(path)
    if is_complete(cfg):
        same_model = [c for c in children if not is_fragment(c) and load_cfg(c).MODEL == cfg.MODEL]
        assert same_model, f"{rel(path)} is a complete config whose model no leaf builds"


# ---------------------------------------------------------------------------------------------
# Every leaf builds: model, criterion, structure


def _check_backbone(backbone: torch.nn.Module, cfg) -> None:
    assert isinstance(backbone, backbone_class(cfg.MODEL.BACKBONE.NAME))
    if isinstance(backbone, ResNet):
        blocks = [len(getattr(backbone, name)) for name in backbone.stage_names]
        assert blocks == RESNET_STAGE_BLOCKS[cfg.MODEL.RESNETS.DEPTH][: len(blocks)]
        # The DeepLab stem ("R101c") is three 3x3 convolutions, Detectron2's basic stem one 7x7.
        stem_convs = [m for m in backbone.stem.modules() if isinstance(m, torch.nn.Conv2d)]
        deep = (
            cfg.MODEL.BACKBONE.NAME == "build_resnet_deeplab_backbone"
            and cfg.MODEL.RESNETS.STEM_TYPE == "deeplab"
        )
        assert len(stem_convs) == (3 if deep else 1)
    if isinstance(backbone, D2SwinTransformer):
        assert [len(stage.blocks) for stage in backbone.layers] == list(cfg.MODEL.SWIN.DEPTHS)
        assert backbone.num_features[0] == cfg.MODEL.SWIN.EMBED_DIM


def _check_pixel_decoder(pixel_decoder: torch.nn.Module, cfg) -> None:
    head = cfg.MODEL.SEM_SEG_HEAD
    assert type(pixel_decoder) is PIXEL_DECODER_REGISTRY.get(head.PIXEL_DECODER_NAME)
    if hasattr(pixel_decoder, "transformer"):
        assert len(pixel_decoder.transformer.encoder.layers) == head.TRANSFORMER_ENC_LAYERS


def _num_predictions(predictor: torch.nn.Module, cfg) -> int:
    """Checks the decoder depth against ``DEC_LAYERS``; returns how many predictions it makes."""
    mf = cfg.MODEL.MASK_FORMER
    if isinstance(predictor, MultiScaleMaskedTransformerDecoder):
        # DEC_LAYERS counts the prediction from the learnable queries too (official semantics).
        for layers in ("self_attention", "cross_attention", "ffn"):
            assert len(getattr(predictor, f"transformer_{layers}_layers")) == mf.DEC_LAYERS - 1
        return mf.DEC_LAYERS
    assert isinstance(predictor, StandardTransformerDecoder)
    assert len(predictor.transformer.decoder.layers) == mf.DEC_LAYERS
    assert len(predictor.transformer.encoder.layers) == mf.ENC_LAYERS
    return mf.DEC_LAYERS


def _check_mask_former(model: torch.nn.Module, cfg) -> None:
    mf, num_classes = cfg.MODEL.MASK_FORMER, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    predictor = model.sem_seg_head.predictor
    assert type(predictor) is TRANSFORMER_DECODER_REGISTRY.get(mf.TRANSFORMER_DECODER_NAME)
    assert predictor.class_embed.out_features == num_classes + 1
    assert predictor.num_queries == mf.NUM_OBJECT_QUERIES
    predictions = _num_predictions(predictor, cfg)

    criterion = build_criterion(cfg)
    assert criterion.num_classes == num_classes
    assert model.criterion.weight_dict == criterion.weight_dict
    final = {"loss_ce": mf.CLASS_WEIGHT, "loss_mask": mf.MASK_WEIGHT, "loss_dice": mf.DICE_WEIGHT}
    if mf.BOX_HEAD:  # MaskFormer Table 5's box head: DETR's box losses too
        final.update(loss_bbox=mf.BOX_L1_WEIGHT, loss_giou=mf.BOX_GIOU_WEIGHT)
    if isinstance(predictor, StandardTransformerDecoder):
        assert mf.CLASS_WEIGHT == 1.0  # MaskFormer's class weight was fixed; CLASS_WEIGHT is Mask2Former's
    aux = (
        {f"{k}_{i}": w for i in range(predictions - 1) for k, w in final.items()}
        if mf.DEEP_SUPERVISION
        else {}
    )
    assert criterion.weight_dict == {**final, **aux}


def _check_per_pixel(model: torch.nn.Module, cfg) -> None:
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    head = model.sem_seg_head
    assert type(model.criterion) is PerPixelCrossEntropy  # the per-pixel baselines' loss
    if isinstance(head, PerPixelBaselineHead):
        assert head.predictor.out_channels == num_classes  # a per-pixel K-way classifier, no class head
    else:
        assert isinstance(head, PerPixelBaselinePlusHead)
        # One query per class and no class head: query k's mask is class k's logit map.
        assert head.predictor.num_queries == num_classes
        assert not hasattr(head.predictor, "class_embed")
        assert len(head.predictor.transformer.decoder.layers) == cfg.MODEL.MASK_FORMER.DEC_LAYERS


@pytest.mark.parametrize("path", LEAVES, ids=rel)
def test_config_builds(path: Path, record_property):
    cfg = load_cfg(path)
    model = build_for_counting(cfg)
    _check_backbone(model.backbone, cfg)
    _check_pixel_decoder(model.sem_seg_head.pixel_decoder, cfg)
    if cfg.MODEL.META_ARCHITECTURE == "MaskFormer":
        _check_mask_former(model, cfg)
    else:
        _check_per_pixel(model, cfg)
    params = num_parameters(model)
    assert params > 0
    record_property("parameters", params)
    print(f"{rel(path)}: {params:,} parameters")


@pytest.mark.parametrize("key", sorted(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(key: str):
    params = num_parameters(build_for_counting(load_cfg(CONFIGS / key)))
    assert round(params / 1e6) == PAPER_PARAMS_M[key], f"{key}: {params:,} parameters"
    if key in OFFICIAL_EXACT:
        assert params == OFFICIAL_EXACT[key]


@pytest.mark.parametrize(
    "key",
    [
        "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml",
        "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml",
        "maskformer/ade20k-150/per_pixel_baseline_plus_R50_bs16_160k.yaml",
    ],
)
def test_meta_device_build_has_the_same_parameters(key: str):
    """The counting build and a meta-device build agree (ResNet models; Swin does not build on meta)."""
    cfg = load_cfg(CONFIGS / key)
    meta = build_on_meta(cfg)
    assert all(p.is_meta for p in meta.parameters())
    real = build_for_counting(cfg)
    assert {n: p.shape for n, p in meta.named_parameters()} == {
        n: p.shape for n, p in real.named_parameters()
    }


# ---------------------------------------------------------------------------------------------
# The shapes configs run


def _image(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=gen)


@pytest.mark.parametrize("path", SHAPES, ids=rel)
def test_shapes_config_runs(path: Path):
    torch.manual_seed(0)
    cfg = load_cfg(path)
    num_classes, test = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, cfg.MODEL.MASK_FORMER.TEST
    model = build_model(cfg).eval()
    sample = {"image": _image(0), "height": 64, "width": 64, "file_name": "random.png", "image_id": 0}
    with torch.no_grad():
        (out,) = model([sample])
    expected = {"sem_seg": test.SEMANTIC_ON, "panoptic_seg": test.PANOPTIC_ON, "instances": test.INSTANCE_ON}
    assert set(out) == {k for k, on in expected.items() if on}
    if "sem_seg" in out:
        assert out["sem_seg"].shape == (num_classes, 64, 64)
        assert torch.isfinite(out["sem_seg"]).all()
    if "panoptic_seg" in out:
        seg, segments = out["panoptic_seg"]
        assert seg.shape == (64, 64)
        assert set(seg.unique().tolist()) <= {0} | {s["id"] for s in segments}
    if "instances" in out:
        inst = out["instances"]
        assert inst.image_size == (64, 64)
        assert inst.pred_masks.shape[1:] == (64, 64) and inst.pred_boxes.shape == (len(inst), 4)


@pytest.mark.parametrize("path", SHAPES, ids=rel)
def test_shapes_config_trains(path: Path):
    """One training forward: one prediction per ``DEC_LAYERS``, a weighted loss for each."""
    torch.manual_seed(0)
    cfg = load_cfg(path)
    model = build_model(cfg).train()
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, :32], masks[1, 32:] = True, True
    sample = {
        "image": _image(1),
        "height": 64,
        "width": 64,
        "instances": Instances((64, 64), gt_classes=torch.tensor([0, 1]), gt_masks=masks),
    }
    head_outputs = []
    model.sem_seg_head.register_forward_hook(lambda module, args, out: head_outputs.append(out))
    losses = model([sample])
    (out,) = head_outputs
    mf, num_classes = cfg.MODEL.MASK_FORMER, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    assert out["pred_logits"].shape == (1, mf.NUM_OBJECT_QUERIES, num_classes + 1)
    assert out["pred_masks"].shape == (1, mf.NUM_OBJECT_QUERIES, 16, 16)  # stride 4 of the 64x64 input
    assert len(out["aux_outputs"]) == mf.DEC_LAYERS - 1
    assert set(losses) == set(model.criterion.weight_dict)
    assert all(torch.isfinite(v) for v in losses.values())
