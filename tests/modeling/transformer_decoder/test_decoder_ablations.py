"""Mask2Former Table 4b-4d as arguments of the masked-attention decoder, on hand-made cases."""

import pytest
import torch
import torch.nn.functional as F

from maskformer.modeling import build_model
from maskformer.modeling.transformer_decoder.layers import CrossAttentionLayer
from maskformer.modeling.transformer_decoder.masked_attention import FEATURE_SCHEDULES, masked_attention_mask
from maskformer.modeling.transformer_decoder.query_attention import (
    QUERY_ATTENTIONS,
    background_blocks,
    gaussian_prior,
    pooling_weights,
)
from tests.helpers.m2f_hf_pair import tiny_m2f_cfg
from tests.helpers.tiny_maskformer import THING_IDS, batch, decoder_levels, tiny_masked_decoder


def _decoder(**kw):
    return tiny_masked_decoder(dec_layers=6, **kw).eval()


def _memory_lengths(decoder) -> list[int]:
    seen = []
    for layer in decoder.transformer_cross_attention_layers:
        layer.register_forward_hook(lambda mod, args, out: seen.append(args[1].shape[0]))
    decoder(*decoder_levels())
    return seen


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("round_robin", [6, 24, 96] * 2),
        ("concat", [126] * 6),
        ("stride32", [6] * 6),
        ("stride16", [24] * 6),
        ("stride8", [96] * 6),
    ],
)
def test_feature_resolution_schedules(schedule, expected):
    assert _memory_lengths(_decoder(feature_resolution=schedule)) == expected


def test_concatenated_levels_get_one_mask_and_one_empty_row_rule():
    logits = torch.full((1, 2, 8, 8), -5.0)
    logits[0, 0, :4, :4] = 5.0
    sizes = [torch.Size((2, 2)), torch.Size((4, 4))]
    blocked = background_blocks(logits, sizes)
    per_level = torch.cat([masked_attention_mask(logits, s) for s in sizes], dim=-1)
    assert torch.equal(blocked[0, 0], per_level[0, 0])
    assert blocked[0, 0].tolist() == [False, True, True, True] + [
        not (r < 2 and c < 2) for r in range(4) for c in range(4)
    ]
    assert not blocked[0, 1].any()  # background everywhere: attends everywhere


def test_mask_pooling_is_the_mean_of_the_features_inside_the_mask():
    torch.manual_seed(0)
    layer = CrossAttentionLayer(d_model=4, nhead=2)
    logits = torch.full((1, 2, 2, 3), -5.0)
    logits[0, 0, 0, :2] = 5.0  # query 0: positions 0 and 1
    weights = pooling_weights(logits, [torch.Size((2, 3))])
    assert weights[0, 0].tolist() == [0.5, 0.5, 0, 0, 0, 0]
    torch.testing.assert_close(weights[0, 1], torch.full((6,), 1 / 6))  # empty mask: every pixel
    memory = torch.randn(6, 1, 4)
    attn = layer.multihead_attn
    w_v, b_v = attn.in_proj_weight[8:], attn.in_proj_bias[8:]
    mean = memory[:2, 0].mean(0)
    expected = attn.out_proj(F.linear(mean, w_v, b_v))
    torch.testing.assert_close(attn.pool(memory, weights)[0, 0], expected)
    queries = torch.randn(2, 1, 4)
    out = layer(queries, memory, pool_weights=weights)
    torch.testing.assert_close(out[0, 0], layer.norm(queries[0, 0] + expected))


def test_smca_prior_peaks_at_the_mask_centre():
    logits = torch.full((1, 1, 16, 16), -8.0)
    logits[0, 0, 2:7, 9:14] = 8.0  # a 5x5 square centred on pixel (4, 11)
    prior = gaussian_prior(logits, [torch.Size((16, 16))])[0, 0].view(16, 16)
    peak = divmod(int(prior.argmax()), 16)
    assert peak == (4, 11)
    assert prior[4, 11] > -0.01  # ~0 at the centre
    assert prior[4, 10] == pytest.approx(prior[4, 12].item(), abs=1e-4)  # symmetric
    assert prior[0, 0] < prior[4, 8] < prior[4, 11]  # falls off with the distance


@pytest.mark.parametrize(
    ("variant", "check"),
    [
        ("standard", lambda m: m is None),
        ("smca", lambda m: m.dtype == torch.float32 and m.shape == (2, 5, 6)),
        ("masked", lambda m: m.dtype == torch.bool),
    ],
)
def test_standard_cross_attention_has_no_mask_and_smca_a_float_prior(variant, check):
    decoder = _decoder(cross_attention=variant, feature_resolution="stride32")
    seen = []
    decoder.transformer_cross_attention_layers[0].register_forward_hook(
        lambda mod, args, kwargs, out: seen.append(kwargs.get("memory_mask")), with_kwargs=True
    )
    decoder(*decoder_levels())
    assert check(seen[0])


def test_zero_initialised_query_features():
    decoder = _decoder(learnable_query_features=False)
    assert "query_feat.weight" not in decoder.state_dict()
    out = decoder(*decoder_levels())
    first = out["aux_outputs"][0]["pred_logits"]
    # Zero features: LayerNorm gives its bias for every query, so every query predicts the same.
    torch.testing.assert_close(first, first[:, :1].expand_as(first))


@pytest.mark.parametrize(("cross_first", "expected"), [(True, ["cross", "self"]), (False, ["self", "cross"])])
def test_self_attention_first_changes_the_order(cross_first, expected):
    decoder = _decoder(cross_attention_first=cross_first)
    order = []
    decoder.transformer_cross_attention_layers[0].register_forward_hook(lambda *a: order.append("cross"))
    decoder.transformer_self_attention_layers[0].register_forward_hook(lambda *a: order.append("self"))
    decoder(*decoder_levels())
    assert order[:2] == expected


def test_dropout_reaches_every_layer():
    decoder = _decoder(dropout=0.1)
    for layers in ("self_attention", "cross_attention", "ffn"):
        for layer in getattr(decoder, f"transformer_{layers}_layers"):
            assert layer.dropout.p == 0.1


def test_unknown_names_are_refused_with_the_key():
    with pytest.raises(ValueError, match="CROSS_ATTENTION='dot'"):
        _decoder(cross_attention="dot")
    with pytest.raises(ValueError, match="FEATURE_RESOLUTION='stride4'"):
        _decoder(feature_resolution="stride4")


@pytest.mark.parametrize(
    "overrides",
    [{"CROSS_ATTENTION": v} for v in QUERY_ATTENTIONS]
    + [{"FEATURE_RESOLUTION": v} for v in FEATURE_SCHEDULES if v != "round_robin"]
    + [{"LEARNABLE_QUERY_FEATURES": False, "CROSS_ATTENTION_FIRST": False, "DECODER_DROPOUT": 0.1}],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_every_variant_trains_from_the_config(overrides):
    torch.manual_seed(0)
    cfg = tiny_m2f_cfg()
    for key, value in overrides.items():
        setattr(cfg.MODEL.MASK_FORMER, key, value)
    model = build_model(cfg, thing_ids=THING_IDS)
    losses = model(batch())
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.sem_seg_head.predictor.transformer_cross_attention_layers.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
