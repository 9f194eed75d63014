"""Shared transformer blocks: equality with torch's reference modules and official names."""

import math

import pytest
import torch
from torch import nn

from maskformer.modeling.transformer_decoder.detr_transformer import (
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from maskformer.modeling.transformer_decoder.layers import (
    MLP,
    CrossAttentionLayer,
    FFNLayer,
    MultiheadAttention,
    SelfAttentionLayer,
)
from maskformer.modeling.transformer_decoder.position_encoding import PositionEmbeddingSine


def _pair(c=16, h=4):
    torch.manual_seed(0)
    ours = MultiheadAttention(c, h)
    ref = nn.MultiheadAttention(c, h)
    ref.load_state_dict(ours.state_dict())
    return ours.eval(), ref.eval()


def test_mha_matches_torch_without_masks():
    ours, ref = _pair()
    q, k, v = torch.randn(5, 2, 16), torch.randn(7, 2, 16), torch.randn(7, 2, 16)
    torch.testing.assert_close(ours(q, k, v), ref(q, k, v, need_weights=False)[0], atol=1e-5, rtol=1e-5)


def test_mha_state_dict_names_equal_torch():
    ours, ref = _pair()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }


@pytest.mark.parametrize("per_head", [True, False])
def test_mha_bool_attn_mask_and_padding_match_torch(per_head):
    ours, ref = _pair()
    q, k = torch.randn(5, 2, 16), torch.randn(7, 2, 16)
    mask = torch.rand(2 * 4 if per_head else 1, 5, 7) > 0.6
    mask[..., 0] = False  # every query keeps at least one key
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    ref_mask = mask if per_head else mask.expand(8, 5, 7)
    expected = ref(q, k, k, attn_mask=ref_mask, key_padding_mask=pad, need_weights=False)[0]
    torch.testing.assert_close(
        ours(q, k, k, attn_mask=mask, key_padding_mask=pad), expected, atol=1e-5, rtol=1e-5
    )


def test_mha_float_mask_matches_torch():
    ours, ref = _pair()
    q, k = torch.randn(3, 2, 16), torch.randn(4, 2, 16)
    mask = torch.randn(3, 4)
    expected = ref(q, k, k, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(ours(q, k, k, attn_mask=mask), expected, atol=1e-5, rtol=1e-5)


def test_mha_rejects_bad_head_count():
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(10, 3)


@pytest.mark.parametrize("pre", [False, True])
def test_encoder_layer_matches_torch(pre):
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(16, 4, 32, dropout=0.0, normalize_before=pre).eval()
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, norm_first=pre).eval()
    ref.load_state_dict(ours.state_dict())
    src = torch.randn(6, 2, 16)
    torch.testing.assert_close(ours(src), ref(src), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pre", [False, True])
def test_decoder_layer_matches_torch_with_zero_pos(pre):
    torch.manual_seed(0)
    ours = TransformerDecoderLayer(16, 4, 32, dropout=0.0, normalize_before=pre).eval()
    ref = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, norm_first=pre).eval()
    ref.load_state_dict(ours.state_dict())
    tgt, mem = torch.randn(3, 2, 16), torch.randn(6, 2, 16)
    torch.testing.assert_close(ours(tgt, mem), ref(tgt, mem), atol=1e-5, rtol=1e-5)


def test_decoder_layer_adds_positions_to_queries_and_keys_not_values():
    torch.manual_seed(0)
    layer = TransformerDecoderLayer(8, 2, 16, dropout=0.0).eval()
    tgt, mem, pos = torch.randn(3, 1, 8), torch.randn(5, 1, 8), torch.randn(5, 1, 8)
    assert not torch.allclose(layer(tgt, mem, pos=pos), layer(tgt, mem))


def test_m2f_blocks_official_names():
    names = set(SelfAttentionLayer(8, 2).state_dict())
    assert names == {
        "self_attn.in_proj_weight",
        "self_attn.in_proj_bias",
        "self_attn.out_proj.weight",
        "self_attn.out_proj.bias",
        "norm.weight",
        "norm.bias",
    }
    assert {n.split(".")[0] for n in CrossAttentionLayer(8, 2).state_dict()} == {"multihead_attn", "norm"}
    assert {n.split(".")[0] for n in FFNLayer(8, 16).state_dict()} == {"linear1", "linear2", "norm"}


def test_self_attention_layer_post_norm_equals_manual():
    torch.manual_seed(0)
    layer = SelfAttentionLayer(8, 2).eval()
    x, pos = torch.randn(4, 2, 8), torch.randn(4, 2, 8)
    expected = layer.norm(x + layer.self_attn(x + pos, x + pos, x))
    torch.testing.assert_close(layer(x, query_pos=pos), expected)
    layer.normalize_before = True
    y = layer.norm(x)
    torch.testing.assert_close(layer(x, query_pos=pos), x + layer.self_attn(y + pos, y + pos, y))


def test_ffn_and_mlp_shapes_and_values():
    ffn = FFNLayer(8, 16).eval()
    x = torch.randn(3, 2, 8)
    expected = ffn.norm(x + ffn.linear2(torch.relu(ffn.linear1(x))))
    torch.testing.assert_close(ffn(x), expected)
    mlp = MLP(8, 12, 5, 3)
    assert [tuple(lin.weight.shape) for lin in mlp.layers] == [(12, 8), (12, 12), (5, 12)]
    assert mlp(torch.randn(2, 7, 8)).shape == (2, 7, 5)


def test_position_embedding_exact_values():
    pe = PositionEmbeddingSine(num_pos_feats=4)
    out = pe(torch.zeros(1, 3, 2, 3))
    assert out.shape == (1, 8, 2, 3)
    # y = 2 (second row), x = 3 (third column); channels [sin(p), cos(p), sin(p/100), cos(p/100)].
    y, x = 2.0, 3.0
    expected_y = [math.sin(y), math.cos(y), math.sin(y / 100), math.cos(y / 100)]
    expected_x = [math.sin(x), math.cos(x), math.sin(x / 100), math.cos(x / 100)]
    torch.testing.assert_close(out[0, :, 1, 2], torch.tensor(expected_y + expected_x))


def test_position_embedding_normalize_and_padding():
    pe = PositionEmbeddingSine(num_pos_feats=4, normalize=True)
    mask = torch.zeros(1, 2, 4, dtype=torch.bool)
    mask[:, :, 2:] = True  # two padded columns
    out = pe(torch.zeros(1, 3, 2, 4), mask)
    # The last valid column has normalised x = 2*pi; padded columns repeat its x channels.
    torch.testing.assert_close(out[0, 4, 0, 1], torch.tensor(math.sin(2 * math.pi * 2 / (2 + 1e-6))))
    torch.testing.assert_close(out[:, 4:, :, 1], out[:, 4:, :, 3])
    with pytest.raises(ValueError, match="normalize"):
        PositionEmbeddingSine(scale=1.0)
