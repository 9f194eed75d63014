"""Our Mask2Former models as HF transformers ``Mask2FormerForUniversalSegmentation`` checkpoints.

:func:`hf_mask2former_config` derives HF's config from ours (ResNet or Swin backbone, MSDeformAttn
pixel decoder, masked-attention decoder; anything HF cannot express raises). The weights are
mapped by inverting :func:`~maskformer.checkpoint.hf.convert_hf_mask2former_state_dict` itself:
every element of an HF state dict is tagged with its index, the tags are converted, and each of
our tensors then says element by element which HF element it came from (renames, fused q/k/v and
all), so the two directions cannot drift apart. ``save_pretrained`` writes the folder, which
``Mask2FormerForUniversalSegmentation.from_pretrained`` reads (and our converter reads back).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .hf import convert_hf_mask2former_state_dict

__all__ = ["hf_mask2former_config", "save_hf_mask2former", "to_hf_mask2former_state_dict"]

_HF_ONLY = ("num_batches_tracked", "swin.layernorm.")  # HF tensors with no counterpart in ours


def _require(cfg, key: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(
            f"{key}={value!r} has no counterpart in HF transformers' Mask2Former (supported: "
            f"{list(allowed)}); this model cannot be exported to the HF format."
        )


def _resnet_config(cfg):
    from transformers import ResNetConfig

    r = cfg.MODEL.RESNETS
    _require(cfg, "MODEL.RESNETS.DEPTH", r.DEPTH, (50, 101, 152))
    _require(cfg, "MODEL.RESNETS.NORM", r.NORM, ("FrozenBN", "BN", "SyncBN"))
    _require(cfg, "MODEL.RESNETS.RES5_DILATION", r.RES5_DILATION, (1,))
    _require(cfg, "MODEL.RESNETS.DEFORM_ON_PER_STAGE", any(r.DEFORM_ON_PER_STAGE), (False,))
    bottleneck = r.NUM_GROUPS * r.WIDTH_PER_GROUP
    _require(cfg, "MODEL.RESNETS.NUM_GROUPS * WIDTH_PER_GROUP", bottleneck, (r.RES2_OUT_CHANNELS // 4,))
    depths = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}[r.DEPTH]
    return ResNetConfig(
        embedding_size=r.STEM_OUT_CHANNELS,
        hidden_sizes=[r.RES2_OUT_CHANNELS * 2**i for i in range(4)],
        depths=depths,
        downsample_in_bottleneck=bool(r.STRIDE_IN_1X1),
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )


def _swin_config(cfg):
    from transformers import SwinConfig

    s = cfg.MODEL.SWIN
    _require(cfg, "MODEL.SWIN.QK_SCALE", s.QK_SCALE, (None,))
    _require(cfg, "MODEL.SWIN.PATCH_NORM", s.PATCH_NORM, (True,))
    return SwinConfig(
        image_size=s.PRETRAIN_IMG_SIZE,
        patch_size=s.PATCH_SIZE,
        embed_dim=s.EMBED_DIM,
        depths=list(s.DEPTHS),
        num_heads=list(s.NUM_HEADS),
        window_size=s.WINDOW_SIZE,
        mlp_ratio=s.MLP_RATIO,
        qkv_bias=s.QKV_BIAS,
        use_absolute_embeddings=s.APE,
        drop_path_rate=s.DROP_PATH_RATE,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )


def hf_mask2former_config(cfg, class_names: Sequence[str] | None = None):
    """HF ``Mask2FormerConfig`` of the model ``cfg`` builds.

    Args:
        cfg: our config (a Mask2Former: ``MSDeformAttnPixelDecoder`` pixel decoder and
            ``MultiScaleMaskedTransformerDecoder``).
        class_names: ``NUM_CLASSES`` names for ``id2label`` (default ``"class_<i>"``).

    Raises:
        ValueError: when a setting has no HF counterpart (named in the message).
    """
    from transformers import Mask2FormerConfig

    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    _require(cfg, "MODEL.META_ARCHITECTURE", cfg.MODEL.META_ARCHITECTURE, ("MaskFormer",))
    _require(
        cfg, "MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME", head.PIXEL_DECODER_NAME, ("MSDeformAttnPixelDecoder",)
    )
    _require(
        cfg,
        "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME",
        mf.TRANSFORMER_DECODER_NAME,
        ("MultiScaleMaskedTransformerDecoder",),
    )
    _require(
        cfg, "MODEL.SEM_SEG_HEAD.IN_FEATURES", list(head.IN_FEATURES), (["res2", "res3", "res4", "res5"],)
    )
    _require(
        cfg,
        "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES",
        list(head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES),
        (["res3", "res4", "res5"],),
    )
    _require(cfg, "MODEL.SEM_SEG_HEAD.CONVS_DIM == MASK_FORMER.HIDDEN_DIM", head.CONVS_DIM, (mf.HIDDEN_DIM,))
    backbones = {"build_resnet_backbone": _resnet_config, "D2SwinTransformer": _swin_config}
    _require(cfg, "MODEL.BACKBONE.NAME", cfg.MODEL.BACKBONE.NAME, tuple(backbones))
    _require(cfg, "INPUT.FORMAT", cfg.INPUT.FORMAT, ("RGB",))  # HF's image processor gives RGB
    num_classes = head.NUM_CLASSES
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names given for MODEL.SEM_SEG_HEAD.NUM_CLASSES={num_classes}.")
    return Mask2FormerConfig(
        backbone_config=backbones[cfg.MODEL.BACKBONE.NAME](cfg),
        feature_size=head.CONVS_DIM,
        mask_feature_size=head.MASK_DIM,
        hidden_dim=mf.HIDDEN_DIM,
        encoder_layers=head.TRANSFORMER_ENC_LAYERS,
        decoder_layers=mf.DEC_LAYERS,
        num_attention_heads=mf.NHEADS,
        dropout=mf.DROPOUT,
        dim_feedforward=mf.DIM_FEEDFORWARD,
        pre_norm=mf.PRE_NORM,
        enforce_input_projection=mf.ENFORCE_INPUT_PROJ,
        common_stride=head.COMMON_STRIDE,
        ignore_value=head.IGNORE_VALUE,
        num_queries=mf.NUM_OBJECT_QUERIES,
        no_object_weight=mf.NO_OBJECT_WEIGHT,
        class_weight=mf.CLASS_WEIGHT,
        mask_weight=mf.MASK_WEIGHT,
        dice_weight=mf.DICE_WEIGHT,
        train_num_points=mf.TRAIN_NUM_POINTS,
        oversample_ratio=mf.OVERSAMPLE_RATIO,
        importance_sample_ratio=mf.IMPORTANCE_SAMPLE_RATIO,
        use_auxiliary_loss=mf.DEEP_SUPERVISION,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )


def to_hf_mask2former_state_dict(
    state: dict[str, Tensor], hf_template: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Our Mask2Former state dict in HF's in-memory names and layout.

    Args:
        state: our model's state dict.
        hf_template: the state dict of an HF model of the matching config (its values are kept
            for HF-only tensors: BatchNorm's ``num_batches_tracked``, Swin's unused final norm).

    Returns:
        A state dict for ``Mask2FormerForUniversalSegmentation.load_state_dict(..., strict=True)``.

    Raises:
        KeyError / ValueError: when ours and the HF model do not correspond tensor for tensor.
    """
    offsets, start = {}, 0
    for name, tensor in hf_template.items():
        offsets[name] = start
        start += tensor.numel()
    tags = {
        name: torch.arange(offsets[name], offsets[name] + t.numel()).view(t.shape)
        for name, t in hf_template.items()
    }
    tagged = convert_hf_mask2former_state_dict(tags)
    unmatched = sorted(set(tagged) ^ {k for k in state if not k.endswith("relative_position_index")})
    if unmatched:
        raise KeyError(f"Our model and the HF Mask2Former differ in these tensors: {unmatched[:10]}")
    flat = torch.cat([t.detach().reshape(-1).to(torch.float32) for t in hf_template.values()])
    written = torch.zeros(start, dtype=torch.bool)
    for name, source in tagged.items():
        if source.shape != state[name].shape:
            raise ValueError(f"{name}: ours {tuple(state[name].shape)} vs HF {tuple(source.shape)}.")
        flat[source.reshape(-1)] = state[name].detach().reshape(-1).to(torch.float32).cpu()
        written[source.reshape(-1)] = True
    out = {}
    for name, tensor in hf_template.items():
        span = slice(offsets[name], offsets[name] + tensor.numel())
        if not written[span].all() and not any(part in name for part in _HF_ONLY):
            raise KeyError(f"HF tensor {name!r} receives no value from our model.")
        out[name] = flat[span].view(tensor.shape).to(tensor.dtype) if written[span].all() else tensor
    return out


def save_hf_mask2former(
    model: nn.Module, cfg, directory: str | Path, class_names: Sequence[str] | None = None
) -> Path:
    """Writes ``model`` as an HF ``save_pretrained`` folder (``config.json`` + ``model.safetensors``).

    Args:
        model: our Mask2Former built from ``cfg``.
        cfg: its config.
        directory: output folder.
        class_names: names for HF's ``id2label``.

    Returns:
        ``directory``; ``Mask2FormerForUniversalSegmentation.from_pretrained(directory)`` loads it.
    """
    from transformers import Mask2FormerForUniversalSegmentation

    hf = Mask2FormerForUniversalSegmentation(hf_mask2former_config(cfg, class_names)).eval()
    hf.load_state_dict(to_hf_mask2former_state_dict(model.state_dict(), hf.state_dict()), strict=True)
    hf.save_pretrained(str(directory))
    return Path(directory)
