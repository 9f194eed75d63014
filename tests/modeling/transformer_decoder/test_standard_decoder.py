"""StandardTransformerDecoder: output contract, deep supervision, input projection, masks."""

import torch

from tests.helpers.tiny_maskformer import tiny_standard_decoder


def test_output_contract_with_deep_supervision():
    torch.manual_seed(0)
    dec = tiny_standard_decoder(in_channels=12)
    x, mask_features = torch.randn(2, 12, 3, 4), torch.randn(2, 8, 12, 16)
    out = dec(x, mask_features)
    assert out["pred_logits"].shape == (2, 7, 6)
    assert out["pred_masks"].shape == (2, 7, 12, 16)
    assert len(out["aux_outputs"]) == 2
    assert all(a["pred_logits"].shape == (2, 7, 6) for a in out["aux_outputs"])
    assert "input_proj.weight" in dict(dec.named_parameters())


def test_masks_are_mask_embedding_dot_pixel_embedding():
    torch.manual_seed(0)
    dec = tiny_standard_decoder()
    x, mask_features = torch.randn(1, 16, 2, 2), torch.randn(1, 8, 5, 6)
    out = dec(x, mask_features)
    # Rebuild the final prediction from the decoder's last normalised query state.
    pos = dec.pe_layer(x)
    hs = dec.transformer.decoder(
        torch.zeros(7, 1, 16),
        x.flatten(2).permute(2, 0, 1),
        pos=pos.flatten(2).permute(2, 0, 1),
        query_pos=dec.query_embed.weight[:, None],
    )[-1]
    torch.testing.assert_close(out["pred_logits"], dec.class_embed(hs))
    expected = torch.einsum("bqc,bchw->bqhw", dec.mask_embed(hs), mask_features)
    torch.testing.assert_close(out["pred_masks"], expected)


def test_no_deep_supervision_and_no_class_head():
    dec = tiny_standard_decoder(deep_supervision=False, mask_classification=False)
    out = dec(torch.randn(1, 16, 2, 2), torch.randn(1, 8, 4, 4))
    assert set(out) == {"pred_masks", "aux_outputs"} and out["aux_outputs"] == []
    assert not hasattr(dec, "class_embed")
    assert isinstance(dec.input_proj, torch.nn.Identity)
    assert "input_proj.weight" in dict(tiny_standard_decoder(enforce_input_project=True).named_parameters())


def test_padding_mask_hides_padded_pixels():
    torch.manual_seed(0)
    dec = tiny_standard_decoder(enc_layers=1)
    x, mask_features = torch.randn(1, 16, 4, 4), torch.randn(1, 8, 8, 8)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[:, :, 2:] = True
    out = dec(x, mask_features, mask)
    x2 = x.clone()
    x2[..., 2:] = torch.randn(1, 16, 4, 2)  # change only the padded pixels
    torch.testing.assert_close(dec(x2, mask_features, mask)["pred_logits"], out["pred_logits"])


def test_official_parameter_names():
    names = set(tiny_standard_decoder(in_channels=32, dec_layers=2).state_dict())
    assert {
        "transformer.decoder.layers.1.multihead_attn.in_proj_weight",
        "transformer.decoder.norm.weight",
        "query_embed.weight",
        "input_proj.weight",
        "class_embed.weight",
        "mask_embed.layers.2.weight",
    } <= names
    assert not any(n.startswith("transformer.encoder") for n in names)
