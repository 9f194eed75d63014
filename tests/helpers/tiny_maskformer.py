"""A tiny MaskFormer config and batch shared by the meta-architecture tests."""

import torch

from maskformer.config import get_cfg
from maskformer.modeling import StandardTransformerDecoder
from maskformer.modeling.transformer_decoder.masked_attention import MultiScaleMaskedTransformerDecoder
from maskformer.structures import Instances

NUM_CLASSES = 4
THING_IDS = [0, 1]  # panoptic inference needs them (no dataset is registered)


def tiny_cfg(backbone: str = "R50", pixel_decoder: str = "BasePixelDecoder", in_feature: str = "res5"):
    """A MaskFormer small enough to train a step on CPU in about a second."""
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    if backbone == "R50":
        cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
        cfg.MODEL.RESNETS.DEPTH = 50
        cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 16
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 32
        cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 8
        cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    else:
        cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
        cfg.MODEL.SWIN.EMBED_DIM = 16
        cfg.MODEL.SWIN.DEPTHS = [2, 2, 2, 2]
        cfg.MODEL.SWIN.NUM_HEADS = [1, 2, 2, 4]
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    head = cfg.MODEL.SEM_SEG_HEAD
    head.NAME = "MaskFormerHead"
    head.PIXEL_DECODER_NAME = pixel_decoder
    head.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    head.NUM_CLASSES = NUM_CLASSES
    head.CONVS_DIM = head.MASK_DIM = 32
    head.NORM = "GN"
    head.TRANSFORMER_ENC_LAYERS = 1
    mf = cfg.MODEL.MASK_FORMER
    mf.TRANSFORMER_DECODER_NAME = "StandardTransformerDecoder"
    mf.TRANSFORMER_IN_FEATURE = in_feature
    mf.HIDDEN_DIM = 32
    mf.NUM_OBJECT_QUERIES = 6
    mf.NHEADS = 4
    mf.DIM_FEEDFORWARD = 64
    mf.DEC_LAYERS = 2
    mf.ENC_LAYERS = 0
    mf.DROPOUT = 0.0
    mf.MASK_LOSS = "sigmoid_focal"
    mf.TRAIN_NUM_POINTS = 0
    mf.SIZE_DIVISIBILITY = 32
    mf.TEST.SEMANTIC_ON = mf.TEST.PANOPTIC_ON = mf.TEST.INSTANCE_ON = True
    return cfg


def batch(sizes=((64, 64), (48, 56))):
    inputs = []
    for i, (h, w) in enumerate(sizes):
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        masks[0, : h // 2] = True
        masks[1, h // 2 :] = True
        inputs.append(
            {
                "image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8),
                "height": h * 2,
                "width": w * 2,
                "file_name": f"img{i}.png",
                "image_id": i,
                "instances": Instances((h, w), gt_classes=torch.tensor([0, 3]), gt_masks=masks),
            }
        )
    return inputs


def tiny_masked_decoder(dec_layers: int = 9, **kwargs) -> MultiScaleMaskedTransformerDecoder:
    """A 16-wide masked-attention decoder (5 queries, 3 classes) over :func:`decoder_levels` inputs."""
    return MultiScaleMaskedTransformerDecoder(
        16,
        num_classes=3,
        hidden_dim=16,
        num_queries=5,
        nheads=2,
        dim_feedforward=32,
        dec_layers=dec_layers,
        pre_norm=False,
        mask_dim=16,
        enforce_input_project=False,
        **kwargs,
    )


def decoder_levels(batch: int = 2, seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Three 16-channel levels (strides 32, 16, 8 of a 64x96 image) and 16x24 mask features."""
    gen = torch.Generator().manual_seed(seed)
    x = [torch.randn(batch, 16, h, w, generator=gen) for h, w in [(2, 3), (4, 6), (8, 12)]]
    return x, torch.randn(batch, 16, 16, 24, generator=gen)


def tiny_standard_decoder(
    in_channels: int = 16, deep_supervision: bool = True, mask_classification: bool = True, **kw
) -> StandardTransformerDecoder:
    """A 16-wide DETR-style decoder (7 queries, 5 classes, 3 layers, mask dim 8) in eval mode."""
    args = dict(
        num_classes=5,
        hidden_dim=16,
        num_queries=7,
        nheads=4,
        dropout=0.0,
        dim_feedforward=32,
        enc_layers=0,
        dec_layers=3,
        pre_norm=False,
        deep_supervision=deep_supervision,
        mask_dim=8,
        enforce_input_project=False,
    )
    args.update(kw)
    return StandardTransformerDecoder(in_channels, mask_classification, **args).eval()
