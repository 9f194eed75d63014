"""FPN pixel decoders: the forward contract and the wiring of their layers."""

import pytest
import torch
import torch.nn.functional as F

from maskformer.modeling.pixel_decoder import (
    PIXEL_DECODER_REGISTRY,
    BasePixelDecoder,
    EncoderSpec,
    TransformerEncoderPixelDecoder,
)
from tests.helpers.features import SHAPES
from tests.helpers.features import backbone_features as features


def test_base_pixel_decoder_contract():
    dec = BasePixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="GN")
    mask_features, enc, multi_scale = dec(features())
    assert mask_features.shape == (2, 24, 16, 24)
    assert enc is None
    assert [tuple(m.shape) for m in multi_scale] == [(2, 32, 2, 3), (2, 32, 4, 6), (2, 32, 8, 12)]


def test_base_pixel_decoder_official_layer_names():
    names = set(BasePixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="GN").state_dict())
    assert {"adapter_1.weight", "adapter_1.norm.weight", "layer_4.weight", "mask_features.bias"} <= names
    assert "adapter_4.weight" not in names and "adapter_1.bias" not in names  # no bias before a norm
    no_norm = set(BasePixelDecoder(SHAPES, conv_dim=32, mask_dim=24, norm="").state_dict())
    assert "adapter_1.bias" in no_norm


def test_base_pixel_decoder_top_down_equals_manual():
    torch.manual_seed(0)
    shapes = {"res4": SHAPES["res4"], "res5": SHAPES["res5"]}
    dec = BasePixelDecoder(shapes, conv_dim=32, mask_dim=24, norm="")
    feats = {k: v for k, v in features().items() if k in shapes}
    top = dec.layer_2(feats["res5"])
    fpn = dec.layer_1(dec.adapter_1(feats["res4"]) + F.interpolate(top, scale_factor=2, mode="nearest"))
    mask_features, _, multi_scale = dec(feats)
    torch.testing.assert_close(multi_scale[0], top)
    torch.testing.assert_close(multi_scale[1], fpn)
    torch.testing.assert_close(mask_features, dec.mask_features(fpn))


@pytest.mark.parametrize("pre_norm", [False, True])
def test_transformer_encoder_pixel_decoder_contract(pre_norm):
    dec = TransformerEncoderPixelDecoder(
        SHAPES,
        encoder=EncoderSpec(nheads=4, num_layers=2, dim_feedforward=64, dropout=0.0),
        transformer_pre_norm=pre_norm,
        conv_dim=32,
        mask_dim=24,
        norm="GN",
    ).eval()
    mask_features, enc, multi_scale = dec(features())
    assert mask_features.shape == (2, 24, 16, 24)
    assert enc.shape == (2, 32, 2, 3)
    torch.testing.assert_close(multi_scale[0], dec.layer_4(enc))
    names = set(dec.state_dict())
    assert "input_proj.weight" in names and "transformer.encoder.layers.1.norm2.weight" in names
    assert dec.layer_4.weight.shape == (32, 32, 3, 3)  # the top conv now reads the encoder output
    assert ("transformer.encoder.norm.weight" in names) == pre_norm


def test_registered_names():
    assert "BasePixelDecoder" in PIXEL_DECODER_REGISTRY
    assert "TransformerEncoderPixelDecoder" in PIXEL_DECODER_REGISTRY
