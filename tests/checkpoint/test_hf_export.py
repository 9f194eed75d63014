"""HF Mask2Former round trip: save_pretrained files convert to ours, ours export to HF's layout."""


import pytest
import torch
import transformers
from safetensors.torch import load_file

from maskformer.checkpoint.export import export_model
from maskformer.checkpoint.hf import convert_hf_mask2former_state_dict
from maskformer.checkpoint.hf_export import hf_mask2former_config, save_hf_mask2former
from maskformer.modeling import build_model
from tests.helpers.m2f_hf_pair import hf_m2f_config, randomize_, tiny_m2f_cfg
from tools import convert_checkpoint


def _ours(backbone: str, seed: int = 1):
    torch.manual_seed(0)
    model = build_model(tiny_m2f_cfg(backbone), thing_ids=[0, 1]).eval()
    randomize_(model, seed)
    return model


def _load(model, state):
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all(k.endswith("relative_position_index") for k in result.missing_keys), result.missing_keys


@pytest.mark.parametrize("backbone", ["R50", "swin"])
def test_save_pretrained_file_converts(backbone, tmp_path):
    torch.manual_seed(0)
    hf = transformers.Mask2FormerForUniversalSegmentation(hf_m2f_config(backbone)).eval()
    randomize_(hf, 2)
    hf.save_pretrained(str(tmp_path))
    on_disk = load_file(str(tmp_path / "model.safetensors"))
    if backbone == "swin":  # the file has the hub layout, not the in-memory one
        assert "model.pixel_level_module.encoder.embeddings.norm.bias" in on_disk
    from_file = convert_hf_mask2former_state_dict(on_disk)
    from_memory = convert_hf_mask2former_state_dict(hf.state_dict())
    assert from_file.keys() == from_memory.keys()
    assert all(torch.equal(from_file[k], from_memory[k]) for k in from_file)
    _load(_ours(backbone), from_file)


@pytest.mark.parametrize("backbone", ["R50", "swin"])
def test_ours_to_hf_and_back(backbone, tmp_path):
    ours = _ours(backbone)
    save_hf_mask2former(ours, tiny_m2f_cfg(backbone), tmp_path, class_names=["a", "b", "c", "d"])
    back = convert_hf_mask2former_state_dict(load_file(str(tmp_path / "model.safetensors")))
    expected = {k: v for k, v in ours.state_dict().items() if not k.endswith("relative_position_index")}
    assert back.keys() == expected.keys()
    assert all(torch.equal(back[k], expected[k]) for k in expected)  # ours -> HF -> ours: identity

    hf = transformers.Mask2FormerForUniversalSegmentation.from_pretrained(str(tmp_path)).eval()
    assert hf.config.id2label[3] == "d"
    images = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        mine = ours.sem_seg_head(ours.backbone(images))
        theirs = hf(pixel_values=images)
    torch.testing.assert_close(theirs.class_queries_logits, mine["pred_logits"], rtol=0, atol=1e-4)
    torch.testing.assert_close(theirs.masks_queries_logits, mine["pred_masks"], rtol=0, atol=1e-4)


def test_unsupported_settings_name_the_key():
    cfg = tiny_m2f_cfg("R50")
    cfg.MODEL.RESNETS.NORM = "GN"
    with pytest.raises(ValueError, match="MODEL.RESNETS.NORM"):
        hf_mask2former_config(cfg)
    cfg = tiny_m2f_cfg("R50")
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "BasePixelDecoder"
    with pytest.raises(ValueError, match="PIXEL_DECODER_NAME"):
        hf_mask2former_config(cfg)


def test_convert_checkpoint_tool_writes_hf_folder(tmp_path):
    ours = _ours("R50")
    weights = export_model(ours.state_dict(), str(tmp_path / "ours.pth"))
    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_m2f_cfg("R50").dump())
    argv = [weights, str(tmp_path / "hf"), "--to", "hf", "--config-file", str(config)]
    report = convert_checkpoint.main(argv)
    assert report.is_complete
    hf = transformers.Mask2FormerForUniversalSegmentation.from_pretrained(str(tmp_path / "hf"))
    assert torch.equal(hf.class_predictor.weight, ours.sem_seg_head.predictor.class_embed.weight)
