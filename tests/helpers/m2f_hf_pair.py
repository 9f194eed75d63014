"""A tiny Mask2Former built twice, by HF transformers and by us, with the same weights."""

import os

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from maskformer.checkpoint.hf import convert_hf_mask2former_state_dict  # noqa: E402
from maskformer.config import get_cfg  # noqa: E402
from maskformer.modeling import build_model  # noqa: E402

NUM_CLASSES = 4
NUM_QUERIES = 6
DEC_LAYERS = 4
NUM_POINTS = 64
# Mask2Former's official point sampling and loss weights, under HF's Mask2FormerConfig names.
HF_M2F_LOSS = {
    "oversample_ratio": 3.0,
    "importance_sample_ratio": 0.75,
    "no_object_weight": 0.1,
    "class_weight": 2.0,
    "mask_weight": 5.0,
    "dice_weight": 5.0,
}


def tiny_m2f_cfg(backbone: str = "R50"):
    """Our config of the tiny Mask2Former (official M2F structure at width 32)."""
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
    if backbone == "R50":
        cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
        r = cfg.MODEL.RESNETS
        r.DEPTH, r.STEM_OUT_CHANNELS, r.RES2_OUT_CHANNELS, r.WIDTH_PER_GROUP = 50, 16, 32, 8
        r.STRIDE_IN_1X1 = False
        r.NORM = "FrozenBN"
        r.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    else:
        cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
        s = cfg.MODEL.SWIN
        s.EMBED_DIM, s.DEPTHS, s.NUM_HEADS, s.WINDOW_SIZE = 16, [2, 2, 2, 2], [1, 2, 2, 4], 7
        s.DROP_PATH_RATE = 0.0
        s.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    head = cfg.MODEL.SEM_SEG_HEAD
    head.NAME = "MaskFormerHead"
    head.PIXEL_DECODER_NAME = "MSDeformAttnPixelDecoder"
    head.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = ["res3", "res4", "res5"]
    head.NUM_CLASSES = NUM_CLASSES
    head.CONVS_DIM = head.MASK_DIM = 32
    head.NORM = "GN"
    head.TRANSFORMER_ENC_LAYERS = 2
    head.COMMON_STRIDE = 4
    mf = cfg.MODEL.MASK_FORMER
    mf.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
    mf.TRANSFORMER_IN_FEATURE = "multi_scale_pixel_decoder"
    mf.HIDDEN_DIM, mf.NUM_OBJECT_QUERIES, mf.NHEADS, mf.DIM_FEEDFORWARD = 32, NUM_QUERIES, 4, 64
    mf.DEC_LAYERS = DEC_LAYERS
    mf.DROPOUT = 0.0
    mf.PRE_NORM = False
    mf.ENFORCE_INPUT_PROJ = False
    mf.DEEP_SUPERVISION = True
    mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.NO_OBJECT_WEIGHT = 2.0, 5.0, 5.0, 0.1
    mf.MASK_LOSS = "sigmoid_ce"
    mf.TRAIN_NUM_POINTS = NUM_POINTS
    mf.OVERSAMPLE_RATIO, mf.IMPORTANCE_SAMPLE_RATIO = 3.0, 0.75
    mf.SIZE_DIVISIBILITY = 32
    mf.TEST.SEMANTIC_ON = mf.TEST.INSTANCE_ON = True
    mf.TEST.PANOPTIC_ON = False
    return cfg


def hf_m2f_config(backbone: str = "R50"):
    """The HF config of the same model."""
    from transformers import Mask2FormerConfig, ResNetConfig, SwinConfig

    stages = ["stage1", "stage2", "stage3", "stage4"]
    if backbone == "R50":
        backbone_config = ResNetConfig(
            embedding_size=16, hidden_sizes=[32, 64, 128, 256], depths=[3, 4, 6, 3], out_features=stages
        )
    else:
        backbone_config = SwinConfig(
            embed_dim=16,
            depths=[2, 2, 2, 2],
            num_heads=[1, 2, 2, 4],
            window_size=7,
            drop_path_rate=0.0,
            out_features=stages,
        )
    return Mask2FormerConfig(
        backbone_config=backbone_config,
        feature_size=32,
        mask_feature_size=32,
        hidden_dim=32,
        encoder_feedforward_dim=1024,
        encoder_layers=2,
        decoder_layers=DEC_LAYERS,
        num_attention_heads=4,
        dim_feedforward=64,
        num_queries=NUM_QUERIES,
        num_labels=NUM_CLASSES,
        train_num_points=NUM_POINTS,
        **HF_M2F_LOSS,
        use_auxiliary_loss=True,
    )


def randomize_(model: torch.nn.Module, seed: int = 0) -> None:
    """Random values in every float parameter and buffer (BN statistics included)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif "norm" in name or "normalization" in name or "layernorm" in name:
                tensor.copy_(
                    1 + 0.1 * torch.randn(tensor.shape, generator=gen)
                    if name.endswith("weight")
                    else 0.1 * torch.randn(tensor.shape, generator=gen)
                )
            elif tensor.dim() > 1:  # fan-in scaling keeps activations O(1) through the deep backbone
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * tensor[0].numel() ** -0.5)
            else:
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))


def build_pair(backbone: str = "R50", seed: int = 0):
    """(HF model, our model) in eval mode with identical random weights."""
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(seed)
    hf = Mask2FormerForUniversalSegmentation(hf_m2f_config(backbone)).eval()
    randomize_(hf, seed)
    ours = build_model(tiny_m2f_cfg(backbone)).eval()
    converted = convert_hf_mask2former_state_dict(hf.state_dict())
    result = ours.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert all(k.endswith("relative_position_index") for k in result.missing_keys), result.missing_keys
    return hf, ours


def build_maskformer_pair(deep_supervision: bool = True, seed: int = 0):
    """(HF MaskFormerForInstanceSegmentation, our MaskFormer) in eval mode, same random weights.

    Both: R50 (tiny widths) + FPN pixel decoder + 2-layer DETR decoder on res5, focal + dice on
    full masks with the MaskFormer weights (class 1, mask 20, dice 1).
    """
    from transformers import DetrConfig, MaskFormerConfig, MaskFormerForInstanceSegmentation, ResNetConfig

    from maskformer.checkpoint.hf import convert_hf_maskformer_state_dict
    from tests.helpers.tiny_maskformer import THING_IDS, tiny_cfg

    backbone = ResNetConfig(
        embedding_size=16,
        hidden_sizes=[32, 64, 128, 256],
        depths=[3, 4, 6, 3],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    decoder = DetrConfig(
        d_model=32,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        encoder_layers=0,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        num_queries=6,
    )
    config = MaskFormerConfig(
        backbone_config=backbone,
        decoder_config=decoder,
        fpn_feature_size=32,
        mask_feature_size=32,
        num_labels=NUM_CLASSES,
        use_auxiliary_loss=deep_supervision,
        no_object_weight=0.1,
        cross_entropy_weight=1.0,
        mask_weight=20.0,
        dice_weight=1.0,
    )
    torch.manual_seed(seed)
    hf = MaskFormerForInstanceSegmentation(config).eval()
    randomize_(hf, seed)
    cfg = tiny_cfg()
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
    cfg.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.NORM = "FrozenBN"
    mf = cfg.MODEL.MASK_FORMER
    mf.DEEP_SUPERVISION = deep_supervision
    mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.NO_OBJECT_WEIGHT = 1.0, 20.0, 1.0, 0.1
    ours = build_model(cfg, thing_ids=THING_IDS).eval()
    ours.load_state_dict(convert_hf_maskformer_state_dict(hf.state_dict()), strict=True)
    return hf, ours
