"""Mask2Former Table 4e pixel decoders: Semantic FPN, FaPN and BiFPN, by hand-made cases and in both heads."""

import pytest
import torch
import torch.nn.functional as F

from maskformer.modeling import (
    PIXEL_DECODER_REGISTRY,
    BiFPNPixelDecoder,
    FaPNPixelDecoder,
    SemanticFPNPixelDecoder,
    build_model,
)
from maskformer.modeling.pixel_decoder.bifpn import BiFPNLayer, FastNormalizedFusion
from maskformer.modeling.pixel_decoder.fapn import FeatureAlignment, FeatureSelection
from tests.helpers.features import SHAPES
from tests.helpers.features import backbone_features as features
from tests.helpers.m2f_hf_pair import tiny_m2f_cfg
from tests.helpers.tiny_maskformer import THING_IDS, batch, tiny_cfg

DECODERS = {
    "SemanticFPNPixelDecoder": lambda: SemanticFPNPixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="GN"),
    "FaPNPixelDecoder": lambda: FaPNPixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="GN"),
    "BiFPNPixelDecoder": lambda: BiFPNPixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="GN", num_layers=2),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_contract_and_registry(name):
    assert PIXEL_DECODER_REGISTRY.get(name) is type(DECODERS[name]())
    mask_features, encoder, multi_scale = DECODERS[name]()(features())
    assert mask_features.shape == (2, 24, 16, 24)
    assert encoder is None
    assert [tuple(m.shape) for m in multi_scale] == [(2, 32, 2, 3), (2, 32, 4, 6), (2, 32, 8, 12)]


def test_semantic_fpn_scale_heads_bring_every_level_to_stride_4():
    dec = DECODERS["SemanticFPNPixelDecoder"]()
    convs = [sum(isinstance(m, torch.nn.Conv2d) for m in head) for head in dec.scale_heads]
    upsamples = [sum(isinstance(m, torch.nn.Upsample) for m in head) for head in dec.scale_heads]
    assert convs == [3, 2, 1, 1]  # strides 32, 16, 8, 4 (coarsest first)
    assert upsamples == [3, 2, 1, 0]


def test_semantic_fpn_sums_the_levels_before_mask_features():
    torch.manual_seed(0)
    dec = DECODERS["SemanticFPNPixelDecoder"]().eval()
    feats = features(b=1)
    outputs, _ = dec.fpn(feats)
    fused = sum(head(y) for head, y in zip(dec.scale_heads, outputs))
    mask_features, _, multi_scale = dec(feats)
    torch.testing.assert_close(mask_features, dec.mask_features(fused))
    torch.testing.assert_close(multi_scale, outputs[:3])


def test_feature_selection_with_zero_attention_weights_scales_by_one_and_a_half():
    fsm = FeatureSelection(3, 2, norm="")
    torch.nn.init.zeros_(fsm.conv_atten.weight)  # sigmoid(0) = 0.5 on every channel
    x = torch.randn(1, 3, 4, 5)
    torch.testing.assert_close(fsm(x), F.conv2d(1.5 * x, fsm.conv.weight, fsm.conv.bias))


def test_feature_alignment_starts_as_a_plain_half_modulated_conv():
    torch.manual_seed(0)
    fam = FeatureAlignment(16, norm="")
    lateral, coarse = torch.randn(1, 16, 8, 10), torch.randn(1, 16, 4, 5)
    up = F.interpolate(coarse, size=(8, 10), mode="bilinear", align_corners=False)
    # Zero-initialised offsets and modulation logits: offsets 0, modulation sigmoid(0) = 0.5.
    conv = F.conv2d(up, fam.align.weight, padding=1)
    expected = F.relu(0.5 * conv + fam.align.bias[:, None, None]) + lateral
    torch.testing.assert_close(fam(lateral, coarse), expected)


def test_feature_alignment_offsets_shift_the_sampled_map():
    """An offset of +1 pixel in x on every kernel point samples the map shifted left by one."""
    fam = FeatureAlignment(8, norm="", offset_groups=8)
    n = 8 * 9
    with torch.no_grad():
        fam.conv_offset_mask.bias.zero_()
        fam.conv_offset_mask.bias[1 : 2 * n : 2] = 1.0  # (dy, dx) pairs: every dx = 1
        fam.conv_offset_mask.bias[2 * n :] = 50.0  # modulation ~ 1
        fam.align.bias.zero_()
    lateral = torch.zeros(1, 8, 6, 7)
    coarse = torch.randn(1, 8, 6, 7)  # same size: no upsampling
    # Kernel point (i, j) at output (y, x) reads (y + i - 1, x + j): no left padding, two right.
    expected = F.relu(F.conv2d(F.pad(coarse, (0, 2, 1, 1)), fam.align.weight))
    torch.testing.assert_close(fam(lateral, coarse), expected, atol=1e-5, rtol=1e-5)


def test_fast_normalized_fusion_weights_are_non_negative_and_normalised():
    fusion = FastNormalizedFusion(3)
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([2.0, -1.0, 1.0]))
    w = fusion.normalized_weights()
    torch.testing.assert_close(w, torch.tensor([2.0, 0.0, 1.0]) / (3.0 + 1e-4))
    assert (w >= 0).all() and w.sum() < 1
    a, b, c = torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 2, 2), 7.0), torch.full((1, 1, 2, 2), 6.0)
    torch.testing.assert_close(fusion([a, b, c]), torch.full((1, 1, 2, 2), 12.0 / (3.0 + 1e-4)))


def _identity_nodes(layer: BiFPNLayer) -> None:
    """Depthwise and pointwise convs that pass the map through: each node is silu(fusion)."""
    with torch.no_grad():
        for node in [*layer.top_down, *layer.bottom_up]:
            node.depthwise.weight.zero_()
            node.depthwise.weight[:, 0, 1, 1] = 1.0
            node.pointwise.weight.copy_(torch.eye(node.pointwise.weight.shape[0])[:, :, None, None])
            node.pointwise.bias.zero_()


def test_bifpn_layer_two_levels_by_hand():
    layer = BiFPNLayer(num_levels=2, channels=1, norm="")
    _identity_nodes(layer)
    fine, coarse = torch.full((1, 1, 4, 4), 1.0), torch.full((1, 1, 2, 2), 3.0)
    eps_2 = 2.0 + 1e-4
    td_fine = F.silu(torch.tensor((1.0 + 3.0) / eps_2))  # fine input + upsampled coarse input
    out_coarse = F.silu((3.0 + td_fine) / eps_2)  # coarse input + max-pooled fine output
    out_fine, out_c = layer([fine, coarse])
    torch.testing.assert_close(out_fine, torch.full((1, 1, 4, 4), td_fine.item()))
    torch.testing.assert_close(out_c, torch.full((1, 1, 2, 2), out_coarse.item()))


def test_bifpn_intermediate_levels_have_three_inputs():
    layer = BiFPNLayer(num_levels=4, channels=4, norm="")
    assert [len(node.fusion.weight) for node in layer.top_down] == [2, 2, 2]
    assert [len(node.fusion.weight) for node in layer.bottom_up] == [3, 3, 2]


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("head", ["MaskFormer", "Mask2Former"])
def test_plugs_into_both_heads_by_config(name, head):
    torch.manual_seed(0)
    if head == "MaskFormer":
        cfg = tiny_cfg(pixel_decoder=name, in_feature="multi_scale_pixel_decoder")
        cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "res5"
    else:
        cfg = tiny_m2f_cfg()
        cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = name
    cfg.MODEL.SEM_SEG_HEAD.BIFPN_NUM_LAYERS = 1
    model = build_model(cfg, thing_ids=THING_IDS)
    assert type(model.sem_seg_head.pixel_decoder).__name__ == name
    losses = model(batch())
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    decoder = model.sem_seg_head.pixel_decoder
    assert decoder.mask_features.weight.grad is not None
    if head == "Mask2Former":  # it also attends to the multi-scale outputs: every parameter learns
        assert all(p.grad is not None for p in decoder.parameters())
    model.eval()
    with torch.no_grad():
        result = model(batch())[0]
    assert result["sem_seg"].shape[-2:] == (128, 128)
