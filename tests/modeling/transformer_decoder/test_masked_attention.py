"""MultiScaleMaskedTransformerDecoder: masked attention, round robin, predictions, training."""

import pytest
import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.modeling import build_model
from maskformer.modeling.transformer_decoder.build import TRANSFORMER_DECODER_REGISTRY
from maskformer.modeling.transformer_decoder.layers import CrossAttentionLayer
from maskformer.modeling.transformer_decoder.masked_attention import (
    MultiScaleMaskedTransformerDecoder,
    masked_attention_mask,
)
from maskformer.structures import Instances
from tests.helpers.m2f_hf_pair import tiny_m2f_cfg
from tests.helpers.tiny_maskformer import decoder_levels, tiny_masked_decoder


def test_mask_is_background_of_resized_prediction_and_empty_rows_attend_everywhere():
    logits = torch.full((1, 3, 4, 4), -5.0)
    logits[0, 0, :2, :2] = 5.0  # query 0: foreground = top-left quarter
    logits[0, 2, 3, 3] = 5.0  # query 2: one pixel, lost at 2x2 -> all background
    mask = masked_attention_mask(logits, (2, 2))
    assert mask.shape == (1, 3, 4) and mask.dtype == torch.bool
    assert mask[0, 0].tolist() == [False, True, True, True]  # True = may not attend
    assert mask[0, 1].tolist() == [False] * 4  # all background: attends everywhere
    assert mask[0, 2].tolist() == [False] * 4


def _weights_through_identity_values(layer: CrossAttentionLayer, query, memory, attn_mask):
    """Attention weights read off the output: identity value/output projections, one-hot values."""
    attn = layer.multihead_attn
    c = attn.embed_dim
    with torch.no_grad():
        attn.in_proj_weight[2 * c :] = torch.eye(c)
        attn.in_proj_bias.zero_()
        attn.out_proj.weight.copy_(torch.eye(c))
        attn.out_proj.bias.zero_()
    return attn(query, memory, torch.eye(c)[:, None, :], attn_mask)  # [Q, 1, S] rows = weights


def test_masked_cross_attention_weights_are_zero_outside_the_mask():
    torch.manual_seed(0)
    s = 8  # number of memory positions = embed dim, so values can be one-hot
    layer = CrossAttentionLayer(d_model=s, nhead=1)
    query, memory = torch.randn(2, 1, s), torch.randn(s, 1, s)
    logits = torch.full((1, 2, 2, 4), -3.0)
    logits[0, 0, 0, 1:3] = 3.0  # query 0 may only look at positions 1 and 2
    mask = masked_attention_mask(logits, (2, 4))
    weights = _weights_through_identity_values(layer, query, memory, mask)[:, 0]
    outside = torch.ones(s, dtype=torch.bool)
    outside[1:3] = False
    assert torch.all(weights[0, outside] == 0)
    torch.testing.assert_close(weights[0, 1:3].sum(), torch.tensor(1.0))
    assert torch.all(weights[1] > 0)  # all-background query attends everywhere
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))


def test_round_robin_levels_predictions_and_aux_outputs():
    decoder = tiny_masked_decoder().eval()
    seen = []
    for layer in decoder.transformer_cross_attention_layers:
        layer.register_forward_hook(lambda mod, args, out: seen.append(args[1].shape[0]))
    x, mask_features = decoder_levels()
    out = decoder(x, mask_features)
    assert seen == [6, 24, 96] * 3  # strides 32, 16, 8, repeated
    assert out["pred_logits"].shape == (2, 5, 4) and out["pred_masks"].shape == (2, 5, 16, 24)
    assert len(out["aux_outputs"]) == 9  # learnable-query prediction + 8 of the 9 layers
    # The first prediction comes from the learnable queries alone: its logits ignore the image.
    x2, mask_features2 = decoder_levels(seed=1)
    again = decoder(x2, mask_features2)
    torch.testing.assert_close(out["aux_outputs"][0]["pred_logits"], again["aux_outputs"][0]["pred_logits"])
    assert not torch.allclose(out["pred_logits"], again["pred_logits"])
    assert (
        TRANSFORMER_DECODER_REGISTRY.get("MultiScaleMaskedTransformerDecoder")
        is MultiScaleMaskedTransformerDecoder
    )


def test_from_config_counts_the_query_prediction_as_a_layer():
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.DEC_LAYERS = 10
    kwargs = MultiScaleMaskedTransformerDecoder.from_config(cfg, in_channels=256)
    assert kwargs["dec_layers"] == 9


def test_attention_mask_follows_previous_prediction():
    decoder = tiny_masked_decoder(dec_layers=2).eval()
    masks_seen = []
    layer = decoder.transformer_cross_attention_layers[1]
    layer.register_forward_hook(
        lambda mod, args, kwargs, out: masks_seen.append(kwargs["memory_mask"]), with_kwargs=True
    )
    x, mask_features = decoder_levels()
    out = decoder(x, mask_features)
    expected = masked_attention_mask(out["aux_outputs"][1]["pred_masks"], (4, 6))
    assert torch.equal(masks_seen[0], expected)


def _training_batch():
    inputs = []
    for i in range(2):
        masks = torch.zeros(2, 64, 64, dtype=torch.bool)
        masks[0, 8 + 8 * i : 40, 8:40] = True
        masks[1] = ~masks[0]
        image = torch.zeros(3, 64, 64, dtype=torch.uint8)
        image[:, masks[0]] = 200
        instances = Instances((64, 64), gt_classes=torch.tensor([1, 2]), gt_masks=masks)
        inputs.append({"image": image, "height": 64, "width": 64, "instances": instances})
    return inputs


@pytest.mark.slow
def test_tiny_mask2former_trains_with_falling_loss():
    torch.manual_seed(0)
    model = build_model(tiny_m2f_cfg())
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = _training_batch()
    totals = []
    for _ in range(5):
        losses = model(batch)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        totals.append(total.item())
    assert all(torch.isfinite(torch.tensor(totals)))
    assert totals[-1] < 0.95 * totals[0] and totals[-1] == min(totals), totals
