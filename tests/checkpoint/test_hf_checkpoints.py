"""HF transformers Mask2Former / MaskFormer checkpoints are detected and aligned by align_state_dict."""


import torch
import transformers

from maskformer.checkpoint.convert import align_state_dict_with_report
from maskformer.checkpoint.export import export_model
from maskformer.checkpoint.formats import load_checkpoint_file
from maskformer.modeling import build_model
from tests.helpers.m2f_hf_pair import hf_m2f_config, tiny_m2f_cfg


def test_hf_mask2former_safetensors_aligns_completely(tmp_path):
    torch.manual_seed(0)
    hf = transformers.Mask2FormerForUniversalSegmentation(hf_m2f_config("R50"))
    path = export_model(hf.state_dict(), str(tmp_path / "model.safetensors"))
    ours = build_model(tiny_m2f_cfg("R50"))
    aligned, report = align_state_dict_with_report(load_checkpoint_file(path)["model"], ours)
    assert report.source_format == "hf_mask2former"
    assert report.is_complete, report.format()
    ours.load_state_dict(aligned, strict=True)
    hf_state = hf.state_dict()
    assert torch.equal(ours.sem_seg_head.predictor.class_embed.weight, hf_state["class_predictor.weight"])
    assert torch.equal(
        ours.backbone.stem.conv1.weight,
        hf_state["model.pixel_level_module.encoder.embedder.embedder.convolution.weight"],
    )


def test_hf_maskformer_state_dict_aligns_completely(tmp_path):
    from tests.helpers.m2f_hf_pair import build_maskformer_pair

    hf, ours = build_maskformer_pair()
    path = export_model(hf.state_dict(), str(tmp_path / "model.safetensors"))
    aligned, report = align_state_dict_with_report(load_checkpoint_file(path)["model"], ours)
    assert report.source_format == "hf_maskformer"
    assert report.is_complete, report.format()
    expected = ours.state_dict()
    assert aligned.keys() == expected.keys()
    assert all(torch.equal(aligned[k], expected[k]) for k in expected)
