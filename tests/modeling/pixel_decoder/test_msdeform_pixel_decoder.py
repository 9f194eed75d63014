"""MSDeformAttnPixelDecoder: shapes, fp32 under autocast, reference points, official names."""

import pytest
import torch

from maskformer.config import get_cfg
from maskformer.modeling.pixel_decoder.build import PIXEL_DECODER_REGISTRY
from maskformer.modeling.pixel_decoder.encoder_spec import EncoderSpec
from maskformer.modeling.pixel_decoder.msdeformattn import MSDeformAttnPixelDecoder, encoder_reference_points
from maskformer.structures import ShapeSpec
from tests.helpers.features import backbone_features

SHAPES = {
    "res2": ShapeSpec(channels=8, stride=4),
    "res3": ShapeSpec(channels=16, stride=8),
    "res4": ShapeSpec(channels=24, stride=16),
    "res5": ShapeSpec(channels=32, stride=32),
}


def _decoder(**kw):
    args = dict(
        encoder=EncoderSpec(nheads=4, num_layers=2, dim_feedforward=64, dropout=0.0),
        conv_dim=32,
        mask_dim=16,
        norm="GN",
        transformer_in_features=["res3", "res4", "res5"],
        common_stride=4,
    )
    args.update(kw)
    return MSDeformAttnPixelDecoder(SHAPES, **args)


def _features(batch=2, height=64, width=96, dtype=torch.float32):
    return {k: v.to(dtype) for k, v in backbone_features(SHAPES, batch, height, width, seed=0).items()}


def test_output_shapes_and_level_order():
    decoder = _decoder().eval()
    mask_features, encoder_out, multi_scale = decoder(_features())
    assert mask_features.shape == (2, 16, 16, 24)
    assert encoder_out.shape == (2, 32, 2, 3)
    assert [tuple(m.shape[-2:]) for m in multi_scale] == [(2, 3), (4, 6), (8, 12)]
    assert encoder_out is multi_scale[0]
    assert PIXEL_DECODER_REGISTRY.get("MSDeformAttnPixelDecoder") is MSDeformAttnPixelDecoder


def test_runs_in_float32_under_autocast_and_backpropagates():
    decoder = _decoder()
    features = {k: v.requires_grad_() for k, v in _features(dtype=torch.bfloat16).items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mask_features, _, multi_scale = decoder(features)
    assert mask_features.dtype == torch.float32 and all(m.dtype == torch.float32 for m in multi_scale)
    (mask_features.sum() + sum(m.sum() for m in multi_scale)).backward()
    assert all(f.grad is not None for f in features.values())
    assert decoder.transformer.encoder.layers[0].self_attn.sampling_offsets.weight.grad.abs().sum() > 0


def test_encoder_reference_points_are_pixel_centres():
    points = encoder_reference_points([(1, 2), (2, 1)], torch.device("cpu"))
    expected = torch.tensor([[0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75]])
    assert points.shape == (1, 4, 2, 2)
    torch.testing.assert_close(points[0, :, 0], expected)
    torch.testing.assert_close(points[0, :, 1], expected)


def test_init_matches_official_scheme():
    decoder = _decoder()
    attn = decoder.transformer.encoder.layers[1].self_attn
    assert torch.all(attn.sampling_offsets.weight == 0) and torch.all(attn.attention_weights.bias == 0)
    assert torch.all(decoder.input_proj[0][0].bias == 0)
    # Coarsest level first: input_proj[0] projects res5.
    assert decoder.input_proj[0][0].in_channels == 32 and decoder.input_proj[2][0].in_channels == 16


def test_from_config_rejects_missing_features():
    cfg = get_cfg()
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = ["res3", "res4", "res6"]
    with pytest.raises(ValueError, match="res6"):
        MSDeformAttnPixelDecoder(cfg, SHAPES)


def _saved_bytes_and_grads(decoder, features):
    """Bytes autograd saves during one forward, and the gradients of a fixed loss of it."""
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mask_features, _, multi_scale = decoder(features)
    (mask_features.square().sum() + sum(m.sum() for m in multi_scale)).backward()
    return sum(saved), {n: p.grad for n, p in decoder.named_parameters()}


def test_encoder_checkpointing_keeps_less_and_gives_the_same_gradients():
    cfg = get_cfg()
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 2
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_USE_CHECKPOINT = True
    assert MSDeformAttnPixelDecoder(cfg, SHAPES).transformer.use_checkpoint
    # Dropout on: the recomputation must replay the same dropout masks.
    spec = EncoderSpec(nheads=4, num_layers=2, dim_feedforward=64, dropout=0.1)
    plain, checkpointed = _decoder(encoder=spec), _decoder(encoder=spec, encoder_checkpoint=True)
    checkpointed.load_state_dict(plain.state_dict())
    torch.manual_seed(0)
    plain_bytes, plain_grads = _saved_bytes_and_grads(plain, _features())
    torch.manual_seed(0)
    checkpointed_bytes, grads = _saved_bytes_and_grads(checkpointed, _features())
    assert checkpointed_bytes < 0.75 * plain_bytes
    assert grads.keys() == plain_grads.keys()
    assert all(torch.equal(grads[n], plain_grads[n]) for n in grads)
    # Inference keeps nothing either way; eval mode runs the layers directly.
    with torch.no_grad():
        torch.testing.assert_close(checkpointed.eval()(_features())[0], plain.eval()(_features())[0])
