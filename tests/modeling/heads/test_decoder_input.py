"""What the heads put on the pixel decoder: the predictor's input width and map, by name."""

import pytest
import torch

from maskformer.modeling.heads.mask_former_head import decoder_input_channels, select_decoder_input
from maskformer.modeling.pixel_decoder import PixelDecoderOutput, PixelDecoderShape
from maskformer.structures import ShapeSpec

BACKBONE = {"res4": ShapeSpec(channels=40, stride=16), "res5": ShapeSpec(channels=80, stride=32)}
WITH_ENCODER = PixelDecoderShape(
    mask_features=ShapeSpec(channels=12, stride=4),
    encoder_features=ShapeSpec(channels=20, stride=32),
    multi_scale_features=(ShapeSpec(channels=24, stride=32), ShapeSpec(channels=24, stride=16)),
)


@pytest.mark.parametrize(
    ("name", "channels"),
    [("multi_scale_pixel_decoder", 24), ("transformer_encoder", 20), ("pixel_embedding", 12), ("res4", 40)],
)
def test_input_width_comes_from_the_decoder_shape_or_the_backbone(name, channels):
    assert decoder_input_channels(name, WITH_ENCODER, BACKBONE) == channels


def test_bad_names_and_a_missing_encoder_are_refused_at_build_time():
    with pytest.raises(ValueError, match="TRANSFORMER_IN_FEATURE='res6'.*'res4', 'res5'"):
        decoder_input_channels("res6", WITH_ENCODER, BACKBONE)
    no_encoder = PixelDecoderShape(WITH_ENCODER.mask_features, None, WITH_ENCODER.multi_scale_features)
    with pytest.raises(ValueError, match="PIXEL_DECODER_NAME='TransformerEncoderPixelDecoder'"):
        decoder_input_channels("transformer_encoder", no_encoder, BACKBONE)


def test_select_decoder_input_picks_the_named_map():
    mask, encoder = torch.zeros(1, 12, 8, 8), torch.ones(1, 20, 1, 1)
    levels = [torch.full((1, 24, 1, 1), 2.0)]
    decoded = PixelDecoderOutput(mask, encoder, levels)
    res5 = torch.full((1, 80, 1, 1), 3.0)
    assert select_decoder_input("multi_scale_pixel_decoder", {"res5": res5}, decoded) is levels
    assert select_decoder_input("transformer_encoder", {"res5": res5}, decoded) is encoder
    assert select_decoder_input("pixel_embedding", {"res5": res5}, decoded) is mask
    assert select_decoder_input("res5", {"res5": res5}, decoded) is res5
