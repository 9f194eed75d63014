"""DETR encoder: the official final LayerNorm in pre-norm mode, also with zero encoder layers."""


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import get_cfg
from maskformer.data import register_builtin_datasets
from maskformer.modeling import build_model
from maskformer.modeling.transformer_decoder.detr_transformer import (
    TransformerDecoderLayer,
    TransformerEncoder,
)
from maskformer.modeling.transformer_decoder.layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from maskformer.utils.analysis import skip_weight_init
from tests.helpers.paths import REFERENCE, REPO
from tests.helpers.tiny_maskformer import tiny_standard_decoder


@pytest.mark.parametrize("pre_norm,expected", [(True, {"norm.weight", "norm.bias"}), (False, set())])
def test_zero_layer_encoder_keys_follow_pre_norm(pre_norm, expected):
    assert set(TransformerEncoder(8, 2, 0, 16, normalize_before=pre_norm).state_dict()) == expected


def test_zero_layer_pre_norm_encoder_is_its_layer_norm():
    torch.manual_seed(0)
    encoder = TransformerEncoder(4, 2, 0, 8, normalize_before=True)
    with torch.no_grad():
        encoder.norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
        encoder.norm.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5]))
    src = torch.tensor([[1.0, 2.0], [3.0, 5.0], [0.0, -2.0], [4.0, 4.0]]).view(1, 4, 1, 2)
    tokens = src[0, :, 0].T  # [2 tokens, 4 channels]
    mean = tokens.mean(1, keepdim=True)
    var = ((tokens - mean) ** 2).mean(1, keepdim=True)
    expected = (tokens - mean) / torch.sqrt(var + 1e-5) * encoder.norm.weight + encoder.norm.bias
    torch.testing.assert_close(encoder(src)[0, :, 0].T, expected)


def test_standard_decoder_pre_norm_without_encoder_layers_normalises_the_memory():
    """Official MaskFormer (PRE_NORM True, ENC_LAYERS 0): the decoder attends to LayerNorm(src)."""
    torch.manual_seed(0)
    dec = tiny_standard_decoder(pre_norm=True)
    encoder_keys = {k for k in dec.state_dict() if k.startswith("transformer.encoder.")}
    assert encoder_keys == {"transformer.encoder.norm.weight", "transformer.encoder.norm.bias"}
    with torch.no_grad():
        dec.transformer.encoder.norm.weight.uniform_(0.5, 2.0)
        dec.transformer.encoder.norm.bias.normal_()
    x, mask_features = torch.randn(1, 16, 2, 3), torch.randn(1, 8, 4, 6)
    out = dec(x, mask_features)
    norm = dec.transformer.encoder.norm
    memory = F.layer_norm(x.flatten(2).permute(2, 0, 1), (16,), norm.weight, norm.bias)
    hs = dec.transformer.decoder(
        torch.zeros(7, 1, 16),
        memory,
        pos=dec.pe_layer(x).flatten(2).permute(2, 0, 1),
        query_pos=dec.query_embed.weight[:, None],
    )[-1]
    torch.testing.assert_close(out["pred_logits"], dec.class_embed(hs))


def test_pre_norm_state_dict_is_the_official_list_plus_both_encoder_norms():
    """Official names for MaskFormer COCO panoptic (6 pixel-decoder encoder layers, ENC_LAYERS 0)
    with PRE_NORM True: both DETR encoders gain ``encoder.norm``, nothing else changes."""
    cfg = get_cfg()
    cfg.merge_from_file(str(REPO / "configs/maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.MASK_FORMER.PRE_NORM = True
    register_builtin_datasets()  # panoptic inference: the thing classes of the config's datasets
    with skip_weight_init():
        model = build_model(cfg)
    lines = (REFERENCE / "keys_mf_R50_coco_panoptic.txt").read_text().splitlines()
    official = {line.split(" ")[0] for line in lines}
    added = {
        f"sem_seg_head.{m}.transformer.encoder.norm.{p}"
        for m in ("pixel_decoder", "predictor")
        for p in ("weight", "bias")
    }
    assert not added & official
    assert set(model.state_dict()) == official | added


@pytest.mark.parametrize("pre_norm", [False, True])
def test_detr_layers_are_the_shared_blocks_under_official_names(pre_norm):
    """Attributes are the shared blocks; state dicts speak the official (torch / DETR) names both ways."""
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, norm_first=pre_norm).eval()
    ours = TransformerDecoderLayer(8, 2, 12, dropout=0.0, normalize_before=pre_norm).eval()
    assert [type(m) for m in ours.children()] == [SelfAttentionLayer, CrossAttentionLayer, FFNLayer]
    assert "ffn.norm.weight" in dict(ours.named_parameters())
    ours.load_state_dict(ref.state_dict())  # strict: official names in, nothing missing or unexpected
    torch.testing.assert_close(ours.ffn.norm.weight, ref.norm3.weight)
    assert list(ours.state_dict()) == list(ref.state_dict())  # official names, official order
    tgt, memory = torch.randn(3, 2, 8), torch.randn(5, 2, 8)
    torch.testing.assert_close(ours(tgt, memory), ref(tgt, memory), atol=1e-5, rtol=1e-5)
