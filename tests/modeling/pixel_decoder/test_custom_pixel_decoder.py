"""The pixel decoder contract: a researcher's decoder plugs into both heads by config; every
registered decoder returns what its ``output_shape()`` declares."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskformer.modeling import (
    PIXEL_DECODER_REGISTRY,
    PixelDecoder,
    PixelDecoderOutput,
    PixelDecoderShape,
    build_model,
    build_pixel_decoder,
)
from maskformer.structures import ShapeSpec
from tests.helpers.features import SHAPES, backbone_features
from tests.helpers.m2f_hf_pair import tiny_m2f_cfg
from tests.helpers.tiny_maskformer import THING_IDS, batch, tiny_cfg

# The custom decoder's map width: not CONVS_DIM (32), so a head that read the config would break.
WIDTH = 20


class TopDownSumDecoder(PixelDecoder):
    """A researcher's decoder: 1x1 projections to ``WIDTH``, a nearest-upsampled top-down sum, the
    coarsest map as "encoder" output and a 3x3 conv to ``MASK_DIM`` on the finest."""

    def __init__(self, cfg, input_shape: dict[str, ShapeSpec]) -> None:
        super().__init__()
        self.names = sorted(input_shape, key=lambda n: input_shape[n].stride, reverse=True)
        self.strides = [input_shape[n].stride for n in self.names]
        self.mask_dim = cfg.MODEL.SEM_SEG_HEAD.MASK_DIM
        self.proj = nn.ModuleList(nn.Conv2d(input_shape[n].channels, WIDTH, 1) for n in self.names)
        self.to_mask = nn.Conv2d(WIDTH, self.mask_dim, 3, padding=1)

    def forward(self, features: dict[str, torch.Tensor]) -> PixelDecoderOutput:
        maps: list[torch.Tensor] = []
        for name, proj in zip(self.names, self.proj):
            x = proj(features[name])
            maps.append(x + F.interpolate(maps[-1], size=x.shape[-2:]) if maps else x)
        return PixelDecoderOutput(self.to_mask(maps[-1]), maps[0], maps[:3])

    def output_shape(self) -> PixelDecoderShape:
        return PixelDecoderShape(
            mask_features=ShapeSpec(channels=self.mask_dim, stride=self.strides[-1]),
            encoder_features=ShapeSpec(channels=WIDTH, stride=self.strides[0]),
            multi_scale_features=tuple(ShapeSpec(channels=WIDTH, stride=s) for s in self.strides[:3]),
        )


@pytest.fixture
def registered():
    PIXEL_DECODER_REGISTRY.register(TopDownSumDecoder)
    yield "TopDownSumDecoder"
    PIXEL_DECODER_REGISTRY.unregister("TopDownSumDecoder")


@pytest.mark.parametrize("head", ["MaskFormer", "Mask2Former"])
def test_custom_decoder_plugs_into_both_heads_by_config(registered, head):
    torch.manual_seed(0)
    # MaskFormer's standard decoder attends to the encoder output, Mask2Former's to the multi-scale maps.
    cfg = tiny_cfg(in_feature="transformer_encoder") if head == "MaskFormer" else tiny_m2f_cfg()
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = registered
    model = build_model(cfg, thing_ids=THING_IDS)
    decoder = model.sem_seg_head.pixel_decoder
    assert type(decoder) is TopDownSumDecoder
    projections = model.sem_seg_head.predictor.input_proj
    first = projections if head == "MaskFormer" else projections[0]
    assert first.weight.shape[1] == WIDTH  # the head sized its predictor from output_shape()
    calls = []
    decoder.register_forward_hook(lambda module, args, output: calls.append(type(output)))
    losses = model(batch())
    sum(losses.values()).backward()
    assert calls == [PixelDecoderOutput]  # the decoder ran through forward (hooks see it)
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.grad is not None for p in decoder.parameters())
    model.eval()
    with torch.no_grad():
        result = model(batch())[0]
    assert result["sem_seg"].shape == (4, 128, 128)
    assert len(calls) == 2


def test_builder_rejects_a_module_that_is_not_a_pixel_decoder():
    class Untyped(nn.Module):
        def __init__(self, cfg, input_shape) -> None:
            super().__init__()

    PIXEL_DECODER_REGISTRY.register(Untyped)
    cfg = tiny_cfg(pixel_decoder="Untyped")
    try:
        with pytest.raises(TypeError, match="PIXEL_DECODER_NAME='Untyped'.*derive it from"):
            build_pixel_decoder(cfg, {})
    finally:
        PIXEL_DECODER_REGISTRY.unregister("Untyped")


def test_a_decoder_without_output_shape_cannot_be_built():
    class NoShape(PixelDecoder):
        def forward(self, features):
            return PixelDecoderOutput(features["res2"], None, [features["res5"]])

    with pytest.raises(TypeError, match="output_shape"):
        NoShape()


def test_shape_with_multi_scale_maps_of_different_widths_is_refused():
    with pytest.raises(ValueError, match="one width"):
        PixelDecoderShape(
            ShapeSpec(channels=8, stride=4), None, (ShapeSpec(channels=8, stride=8), ShapeSpec(channels=4))
        )


def _small_decoder_cfg(name: str):
    cfg = tiny_m2f_cfg()
    head = cfg.MODEL.SEM_SEG_HEAD
    head.PIXEL_DECODER_NAME = name
    head.CONVS_DIM, head.MASK_DIM = 32, 24  # different, so a swapped width shows
    head.TRANSFORMER_ENC_LAYERS = 1
    head.BIFPN_NUM_LAYERS = 1
    return cfg


@pytest.mark.parametrize("name", PIXEL_DECODER_REGISTRY.keys())
def test_every_registered_decoder_returns_its_output_shape(name):
    torch.manual_seed(0)
    decoder = build_pixel_decoder(_small_decoder_cfg(name), SHAPES).eval()
    h, w = 64, 96
    features = backbone_features(SHAPES, b=1, h=h, w=w)
    with torch.no_grad():
        out = decoder(features)
    shape = decoder.output_shape()

    def expected(spec: ShapeSpec) -> tuple[int, ...]:
        return (1, spec.channels, h // spec.stride, w // spec.stride)

    assert isinstance(out, PixelDecoderOutput)
    assert tuple(out.mask_features.shape) == expected(shape.mask_features) == (1, 24, 16, 24)
    has_encoder = name in ("TransformerEncoderPixelDecoder", "MSDeformAttnPixelDecoder")
    assert (shape.encoder_features is not None) == has_encoder == (out.encoder_features is not None)
    if has_encoder:
        assert tuple(out.encoder_features.shape) == expected(shape.encoder_features) == (1, 32, 2, 3)
    assert [tuple(m.shape) for m in out.multi_scale_features] == [
        expected(s) for s in shape.multi_scale_features
    ]
    assert [s.stride for s in shape.multi_scale_features] == [32, 16, 8]
    assert (shape.mask_dim, shape.conv_dim) == (24, 32)
