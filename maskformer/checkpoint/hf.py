"""Conversion of HuggingFace ``transformers`` Mask2Former / MaskFormer state dicts to ours.

HF's ports (``Mask2FormerForUniversalSegmentation``, ``MaskFormerForInstanceSegmentation``) name
every parameter differently from the official code; our models use the official (Detectron2)
names, so a converted state dict loads into a model built from the matching config. Both the
in-memory names of transformers 5.x (Swin ``attention.{q,k,v,o}_proj``) and the hub checkpoint
names (``attention.self.{query,key,value}``, ``attention.output.dense``, and no ``swin.`` level in
the files ``save_pretrained`` writes) are understood. Swin's
separate q/k/v projections are fused into the official ``qkv`` and HF's separate self-attention
q/k/v into ``in_proj_weight``.

Not converted (dropped): BatchNorm's ``num_batches_tracked`` (our backbone norms are frozen) and
HF Swin's final ``layernorm`` (the official backbone has none). Swin's
``relative_position_index`` is a constant buffer that HF does not save; ours is rebuilt at
construction, so load with ``strict=False`` and expect exactly those buffers as missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["convert_hf_mask2former_state_dict", "convert_hf_maskformer_state_dict"]

Rule = tuple[str, str]

_RESNET_RULES: list[Rule] = [
    (r"embedder\.embedder\.convolution\.", "stem.conv1."),
    (r"embedder\.embedder\.normalization\.", "stem.conv1.norm."),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.", "res{s}.\\2.shortcut."),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.", "res{s}.\\2.shortcut.norm."),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.convolution\.", "res{s}.\\2.conv{c}."),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.normalization\.", "res{s}.\\2.conv{c}.norm."),
]

_SWIN_RULES: list[Rule] = [
    (r"swin\.embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"swin\.embeddings\.norm\.", "patch_embed.norm."),
    (r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.layernorm_before\.", "layers.\\1.blocks.\\2.norm1."),
    (r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.layernorm_after\.", "layers.\\1.blocks.\\2.norm2."),
    (
        r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.(?:self\.)?relative_position_bias\."
        r"relative_position_bias_table",
        "layers.\\1.blocks.\\2.attn.relative_position_bias_table",
    ),
    (
        r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.self\.relative_position_bias_table",
        "layers.\\1.blocks.\\2.attn.relative_position_bias_table",
    ),
    (
        r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.(?:o_proj|output\.dense)\.",
        "layers.\\1.blocks.\\2.attn.proj.",
    ),
    (r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc([12])\.", "layers.\\1.blocks.\\2.mlp.fc\\3."),
    (r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.intermediate\.dense\.", "layers.\\1.blocks.\\2.mlp.fc1."),
    (r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.output\.dense\.", "layers.\\1.blocks.\\2.mlp.fc2."),
    (r"swin\.encoder\.layers\.(\d+)\.downsample\.", "layers.\\1.downsample."),
    (r"hidden_states_norms\.stage(\d)\.", "norm{n}."),
]

# q/k/v of one Swin attention block, in-memory 5.x names and hub names: (prefix, q|k|v, param).
_SWIN_QKV = re.compile(
    r"swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.attention\.(?:self\.)?(q_proj|k_proj|v_proj|query|key|value)"
    r"\.(weight|bias)$"
)
_QKV_ORDER = {"q_proj": 0, "query": 0, "k_proj": 1, "key": 1, "v_proj": 2, "value": 2}

_M2F_PIXEL_DECODER_RULES: list[Rule] = [
    (r"input_projections\.", "input_proj."),
    (r"level_embed$", "transformer.level_embed"),
    (r"encoder\.layers\.(\d+)\.self_attn\.", "transformer.encoder.layers.\\1.self_attn."),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.", "transformer.encoder.layers.\\1.norm1."),
    (r"encoder\.layers\.(\d+)\.fc1\.", "transformer.encoder.layers.\\1.linear1."),
    (r"encoder\.layers\.(\d+)\.fc2\.", "transformer.encoder.layers.\\1.linear2."),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.", "transformer.encoder.layers.\\1.norm2."),
    (r"mask_projection\.", "mask_features."),
    (r"(adapter|layer)_(\d+)\.0\.", "\\1_\\2."),
    (r"(adapter|layer)_(\d+)\.1\.", "\\1_\\2.norm."),
]

_M2F_PREDICTOR_RULES: list[Rule] = [
    (r"queries_embedder\.", "query_embed."),
    (r"queries_features\.", "query_feat."),
    (r"level_embed\.", "level_embed."),
    (r"input_projections\.(\d+)\.", "input_proj.\\1."),
    (
        r"decoder\.layers\.(\d+)\.self_attn\.out_proj\.",
        "transformer_self_attention_layers.\\1.self_attn.out_proj.",
    ),
    (r"decoder\.layers\.(\d+)\.self_attn_layer_norm\.", "transformer_self_attention_layers.\\1.norm."),
    (r"decoder\.layers\.(\d+)\.cross_attn\.", "transformer_cross_attention_layers.\\1.multihead_attn."),
    (r"decoder\.layers\.(\d+)\.cross_attn_layer_norm\.", "transformer_cross_attention_layers.\\1.norm."),
    (r"decoder\.layers\.(\d+)\.fc([12])\.", "transformer_ffn_layers.\\1.linear\\2."),
    (r"decoder\.layers\.(\d+)\.final_layer_norm\.", "transformer_ffn_layers.\\1.norm."),
    (r"decoder\.layernorm\.", "decoder_norm."),
    (r"decoder\.mask_predictor\.mask_embedder\.(\d+)\.0\.", "mask_embed.layers.\\1."),
]
_M2F_SELF_ATTN_QKV = re.compile(r"decoder\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)\.(weight|bias)$")

_DROPPED = re.compile(r"(num_batches_tracked$|^swin\.layernorm\.)")


def _apply_rules(name: str, rules: list[Rule], formatter: Callable[[re.Match], dict]) -> str | None:
    """The renamed ``name`` by the first rule whose pattern matches its start, or None."""
    for pattern, replacement in rules:
        match = re.match(pattern, name)
        if match:
            target = match.expand(replacement).format(**formatter(match))
            return target + name[match.end() :]
    return None


def _backbone_fields(match: re.Match) -> dict:
    """Index shifts between HF and Detectron2 names: stage s -> res{s+2}, layer c -> conv{c+1}."""
    groups = match.groups()
    fields = {}
    if match.re.pattern.startswith(r"encoder\.stages"):
        fields["s"] = int(groups[0]) + 2
        if len(groups) > 2:
            fields["c"] = int(groups[2]) + 1
    if match.re.pattern.startswith(r"hidden_states_norms"):
        fields["n"] = int(groups[0]) - 1
    return fields


def _no_fields(match: re.Match) -> dict:
    return {}


def _fuse(groups: dict[tuple, dict[int, Tensor]], what: str) -> dict[tuple, Tensor]:
    """Concatenates q, k, v (in that order) of every group; all three must be present."""
    fused = {}
    for key, parts in groups.items():
        if sorted(parts) != [0, 1, 2]:
            raise KeyError(f"HF state dict has an incomplete q/k/v set for {what} {key}: got {sorted(parts)}")
        fused[key] = torch.cat([parts[0], parts[1], parts[2]], dim=0)
    return fused


# Swin names as ``save_pretrained`` writes them: without the in-memory ``swin.`` level.
_SWIN_ON_DISK = re.compile(r"(embeddings|encoder\.layers)\.")


def _convert_backbone(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """HF ResNet / Swin backbone names (below ``pixel_level_module.encoder.``) -> ``backbone.*``."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple, dict[int, Tensor]] = {}
    state = {("swin." + n if _SWIN_ON_DISK.match(n) else n): t for n, t in state.items()}
    is_swin = any(name.startswith("swin.") for name in state)
    rules = _SWIN_RULES if is_swin else _RESNET_RULES
    for name, tensor in state.items():
        if _DROPPED.search(name):
            continue
        match = _SWIN_QKV.match(name) if is_swin else None
        if match:
            layer, block, which, param = match.groups()
            qkv.setdefault((layer, block, param), {})[_QKV_ORDER[which]] = tensor
            continue
        target = _apply_rules(name, rules, _backbone_fields)
        if target is None:
            raise KeyError(f"HF backbone parameter {name!r} has no known counterpart in our backbone")
        out["backbone." + target] = tensor
    for (layer, block, param), tensor in _fuse(qkv, "Swin block").items():
        out[f"backbone.layers.{layer}.blocks.{block}.attn.qkv.{param}"] = tensor
    return out


def _convert_with(
    state: dict[str, Tensor],
    rules: list[Rule],
    prefix: str,
    what: str,
    formatter: Callable[[re.Match], dict] = _no_fields,
) -> dict[str, Tensor]:
    out = {}
    for name, tensor in state.items():
        target = _apply_rules(name, rules, formatter)
        if target is None:
            raise KeyError(f"HF {what} parameter {name!r} has no known counterpart")
        out[prefix + target] = tensor
    return out


# The top-level HF name prefixes of both models -> our groups (MaskFormer adds its mask embedder).
_HF_GROUPS = {
    "model.pixel_level_module.encoder.": "backbone",
    "model.pixel_level_module.decoder.": "pixel_decoder",
    "model.transformer_module.": "predictor",
    "class_predictor.": "class",
    "criterion.": "criterion",
}


def _split_prefixes(state: dict[str, Tensor], prefixes: dict[str, str]) -> dict[str, dict[str, Tensor]]:
    """Groups ``state`` by the first matching prefix; unknown names raise."""
    groups: dict[str, dict[str, Tensor]] = {group: {} for group in prefixes.values()}
    for name, tensor in state.items():
        for prefix, group in prefixes.items():
            if name.startswith(prefix):
                groups[group][name[len(prefix) :]] = tensor
                break
        else:
            raise KeyError(f"HF parameter {name!r} is outside every known module ({sorted(prefixes)})")
    return groups


def convert_hf_mask2former_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Converts a ``Mask2FormerForUniversalSegmentation`` state dict to our Mask2Former names.

    Args:
        state: HF state dict (ResNet or Swin backbone).

    Returns:
        State dict for our ``MaskFormer`` meta-architecture with the MSDeformAttn pixel decoder and
        the masked-attention decoder (``backbone.*``, ``sem_seg_head.pixel_decoder.*``,
        ``sem_seg_head.predictor.*``, ``criterion.empty_weight``).
    """
    groups = _split_prefixes(state, _HF_GROUPS)
    out = _convert_backbone(groups["backbone"])
    pixel_prefix, predictor_prefix = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor."
    out.update(
        _convert_with(groups["pixel_decoder"], _M2F_PIXEL_DECODER_RULES, pixel_prefix, "pixel decoder")
    )
    predictor = dict(groups["predictor"])
    qkv: dict[tuple, dict[int, Tensor]] = {}
    for name in [n for n in predictor if _M2F_SELF_ATTN_QKV.match(n)]:
        layer, which, param = _M2F_SELF_ATTN_QKV.match(name).groups()
        qkv.setdefault((layer, param), {})[_QKV_ORDER[which]] = predictor.pop(name)
    out.update(_convert_with(predictor, _M2F_PREDICTOR_RULES, predictor_prefix, "transformer module"))
    for (layer, param), tensor in _fuse(qkv, "decoder self-attention").items():
        out[f"{predictor_prefix}transformer_self_attention_layers.{layer}.self_attn.in_proj_{param}"] = tensor
    for name, tensor in groups["class"].items():
        out[predictor_prefix + "class_embed." + name] = tensor
    for name, tensor in groups["criterion"].items():
        out["criterion." + name] = tensor
    return out


_MF_PIXEL_DECODER_RULES: list[Rule] = [
    (r"fpn\.stem\.0\.", "layer_{top}."),
    (r"fpn\.stem\.1\.", "layer_{top}.norm."),
    (r"fpn\.layers\.(\d+)\.proj\.0\.", "adapter_{level}."),
    (r"fpn\.layers\.(\d+)\.proj\.1\.", "adapter_{level}.norm."),
    (r"fpn\.layers\.(\d+)\.block\.0\.", "layer_{level}."),
    (r"fpn\.layers\.(\d+)\.block\.1\.", "layer_{level}.norm."),
    (r"mask_projection\.", "mask_features."),
]

_MF_PREDICTOR_RULES: list[Rule] = [
    (r"queries_embedder\.", "query_embed."),
    (r"input_projection\.", "input_proj."),
    (r"decoder\.layers\.(\d+)\.self_attn\.o_proj\.", "transformer.decoder.layers.\\1.self_attn.out_proj."),
    (r"decoder\.layers\.(\d+)\.self_attn_layer_norm\.", "transformer.decoder.layers.\\1.norm1."),
    (
        r"decoder\.layers\.(\d+)\.encoder_attn\.o_proj\.",
        "transformer.decoder.layers.\\1.multihead_attn.out_proj.",
    ),
    (r"decoder\.layers\.(\d+)\.encoder_attn_layer_norm\.", "transformer.decoder.layers.\\1.norm2."),
    (r"decoder\.layers\.(\d+)\.mlp\.fc([12])\.", "transformer.decoder.layers.\\1.linear\\2."),
    (r"decoder\.layers\.(\d+)\.final_layer_norm\.", "transformer.decoder.layers.\\1.norm3."),
    (r"decoder\.layernorm\.", "transformer.decoder.norm."),
]
_MF_ATTN_QKV = re.compile(
    r"decoder\.layers\.(\d+)\.(self_attn|encoder_attn)\.(q_proj|k_proj|v_proj)\.(weight|bias)$"
)


def _convert_fpn(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """HF's FPN counts its lateral layers from the coarsest; ours numbers adapter_i from the finest."""
    num_layers = 1 + max(
        (int(m.group(1)) for m in (re.match(r"fpn\.layers\.(\d+)\.", n) for n in state) if m), default=-1
    )

    def fields(match: re.Match) -> dict:
        level = num_layers - int(match.group(1)) if match.groups() else 0
        return {"top": num_layers + 1, "level": level}

    return _convert_with(state, _MF_PIXEL_DECODER_RULES, prefix, "MaskFormer pixel decoder", fields)


def convert_hf_maskformer_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Converts a ``MaskFormerForInstanceSegmentation`` state dict to our MaskFormer names.

    HF's MaskFormer is the official ``BasePixelDecoder`` (FPN) + ``StandardTransformerDecoder``
    attending to res5 with no transformer encoder (the ADE20K R50 / Swin configs); the official
    ``TransformerEncoderPixelDecoder`` variant has no HF counterpart.

    Args:
        state: HF state dict (ResNet or Swin backbone).

    Returns:
        State dict for our ``MaskFormer`` with ``BasePixelDecoder`` and ``StandardTransformerDecoder``.
    """
    groups = _split_prefixes(state, {**_HF_GROUPS, "mask_embedder.": "mask"})
    pixel_prefix, predictor_prefix = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor."
    out = _convert_backbone(groups["backbone"])
    out.update(_convert_fpn(groups["pixel_decoder"], pixel_prefix))
    predictor = dict(groups["predictor"])
    qkv: dict[tuple, dict[int, Tensor]] = {}
    for name in [n for n in predictor if _MF_ATTN_QKV.match(n)]:
        layer, kind, which, param = _MF_ATTN_QKV.match(name).groups()
        qkv.setdefault((layer, kind, param), {})[_QKV_ORDER[which]] = predictor.pop(name)
    out.update(_convert_with(predictor, _MF_PREDICTOR_RULES, predictor_prefix, "transformer module"))
    for (layer, kind, param), tensor in _fuse(qkv, "decoder attention").items():
        module = "self_attn" if kind == "self_attn" else "multihead_attn"
        out[f"{predictor_prefix}transformer.decoder.layers.{layer}.{module}.in_proj_{param}"] = tensor
    for name, tensor in groups["class"].items():
        out[predictor_prefix + "class_embed." + name] = tensor
    for name, tensor in groups["mask"].items():
        match = re.match(r"(\d+)\.0\.(weight|bias)$", name)
        if match is None:
            raise KeyError(f"HF MaskFormer mask_embedder parameter {name!r} has no known counterpart")
        out[f"{predictor_prefix}mask_embed.layers.{match.group(1)}.{match.group(2)}"] = tensor
    for name, tensor in groups["criterion"].items():
        out["criterion." + name] = tensor
    return out
