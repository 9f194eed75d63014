"""D2SwinTransformer against an independent implementation: HF transformers' SwinBackbone.

The reference README records that HF's Swin matches the official Swin (padding included) to
<= 5e-6, so equal outputs on sizes that are not window multiples check our padding too.
"""

import os

import pytest
import torch
import transformers  # noqa: E402

from maskformer.modeling.backbone.swin import D2SwinTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEPTHS, HEADS = (2, 2, 2, 2), (1, 2, 2, 4)


def hf_to_ours(hf_state: dict, ours_state: dict) -> dict:
    """Renames HF SwinBackbone weights to the official D2SwinTransformer names."""
    out = {
        "patch_embed.proj.weight": hf_state["swin.embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf_state["swin.embeddings.patch_embeddings.projection.bias"],
        "patch_embed.norm.weight": hf_state["swin.embeddings.norm.weight"],
        "patch_embed.norm.bias": hf_state["swin.embeddings.norm.bias"],
    }
    renames = {
        "layernorm_before": "norm1",
        "layernorm_after": "norm2",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    }
    for i, depth in enumerate(DEPTHS):
        for p in ("weight", "bias"):
            out[f"norm{i}.{p}"] = hf_state[f"hidden_states_norms.stage{i + 1}.{p}"]
        src = f"swin.encoder.layers.{i}."
        for j in range(depth):
            b, o = f"{src}blocks.{j}.", f"layers.{i}.blocks.{j}."
            for p in ("weight", "bias"):
                for hf_name, name in renames.items():
                    out[f"{o}{name}.{p}"] = hf_state[f"{b}{hf_name}.{p}"]
                out[f"{o}attn.qkv.{p}"] = torch.cat([hf_state[f"{b}attention.{n}_proj.{p}"] for n in "qkv"])
                out[f"{o}attn.proj.{p}"] = hf_state[f"{b}attention.o_proj.{p}"]
            table = f"{b}attention.relative_position_bias.relative_position_bias_table"
            out[f"{o}attn.relative_position_bias_table"] = hf_state[table]
            out[f"{o}attn.relative_position_index"] = ours_state[f"{o}attn.relative_position_index"]
        if i < len(DEPTHS) - 1:
            out[f"layers.{i}.downsample.reduction.weight"] = hf_state[f"{src}downsample.reduction.weight"]
            for p in ("weight", "bias"):
                out[f"layers.{i}.downsample.norm.{p}"] = hf_state[f"{src}downsample.norm.{p}"]
    return out


@pytest.mark.slow
def test_swin_equals_hf_swin_on_unaligned_sizes():
    torch.manual_seed(0)
    config = transformers.SwinConfig(
        embed_dim=16,
        depths=list(DEPTHS),
        num_heads=list(HEADS),
        window_size=7,
        drop_path_rate=0.0,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    hf = transformers.SwinBackbone(config).eval()
    assert "swin.encoder.layers.0.blocks.0.attention.q_proj.weight" in hf.state_dict(), (
        "this transformers version uses other in-memory Swin names (constraints.txt pins 5.x)"
    )
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.2)  # random biases and norms too, so every renamed tensor matters
    ours = D2SwinTransformer(embed_dim=16, depths=DEPTHS, num_heads=HEADS, window_size=7, drop_path_rate=0.0)
    ours.load_state_dict(hf_to_ours(hf.state_dict(), ours.state_dict()))
    ours.eval()
    for size in [(64, 64), (70, 90)]:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected = hf(x).feature_maps
            got = ours(x)
        for i in range(4):
            torch.testing.assert_close(got[f"res{i + 2}"], expected[i], atol=1e-5, rtol=1e-4)
