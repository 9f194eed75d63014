"""Numerical parity of our Mask2Former with HF transformers' independent port (same weights).

HF's ``Mask2FormerForUniversalSegmentation`` is built offline with random weights, converted with
``maskformer.checkpoint.hf`` and loaded into our model built from the matching config; both run on
the same input. Panoptic post-processing is not compared: HF's does not follow the paper.
"""

import pytest
import torch

from maskformer.structures import Instances
from tests.helpers.m2f_hf_pair import NUM_CLASSES, NUM_QUERIES, build_maskformer_pair, build_pair

PIXEL_MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
PIXEL_STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
TOL = {"rtol": 1e-4, "atol": 1e-4}


def _images(batch, height, width, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8, generator=gen)


def _normalised(images):
    return (images.float() - PIXEL_MEAN) / PIXEL_STD


def _forward_both(hf, ours):
    """HF's output (hidden states, auxiliary logits) and ours (features, pixel decoder, head) on one batch."""
    x = _normalised(_images(2, 64, 96))
    with torch.no_grad():
        theirs = hf(pixel_values=x, output_hidden_states=True, output_auxiliary_logits=True)
        features = ours.backbone(x)
        return theirs, features, ours.sem_seg_head.pixel_decoder(features), ours.sem_seg_head(features)


@pytest.fixture(scope="module", params=["R50", "SwinT"])
def pair(request):
    return build_pair(request.param)


def test_every_layer_and_pixel_decoder_match(pair):
    hf, ours = pair
    theirs, features, (mask_features, _, multi_scale), out = _forward_both(hf, ours)
    for name, hf_feature in zip(["res2", "res3", "res4", "res5"], theirs.encoder_hidden_states):
        torch.testing.assert_close(features[name], hf_feature, **TOL)
    torch.testing.assert_close(mask_features, theirs.pixel_decoder_last_hidden_state, **TOL)
    assert len(multi_scale) == len(theirs.pixel_decoder_hidden_states) == 3
    for a, b in zip(multi_scale, theirs.pixel_decoder_hidden_states):
        torch.testing.assert_close(a, b, **TOL)
    ours_layers = out["aux_outputs"] + [out]
    hf_layers = theirs.auxiliary_logits + [
        {
            "class_queries_logits": theirs.class_queries_logits,
            "masks_queries_logits": theirs.masks_queries_logits,
        }
    ]
    assert len(ours_layers) == len(hf_layers) == 4  # learnable queries + 3 masked-attention layers
    for mine, hf_layer in zip(ours_layers, hf_layers):
        torch.testing.assert_close(mine["pred_logits"], hf_layer["class_queries_logits"], **TOL)
        torch.testing.assert_close(mine["pred_masks"], hf_layer["masks_queries_logits"], **TOL)


def _processor():
    from transformers import Mask2FormerImageProcessor

    return Mask2FormerImageProcessor()


@pytest.mark.slow
def test_semantic_and_instance_postprocessing_match():
    hf, ours = build_pair("R50")
    ours.test_topk_per_image = NUM_QUERIES  # HF keeps the top num_queries (query, class) pairs
    # HF resizes mask logits to 384x384 first: with 384x384 images both pipelines resize identically.
    images = _images(1, 384, 384, seed=3)
    with torch.no_grad():
        theirs = hf(pixel_values=_normalised(images))
        results = ours([{"image": images[0], "height": 384, "width": 384}])[0]
    processor = _processor()
    hf_semantic = processor.post_process_semantic_segmentation(theirs, target_sizes=[(384, 384)])[0]
    assert torch.equal(results["sem_seg"].argmax(0), hf_semantic)
    hf_instance = processor.post_process_instance_segmentation(
        theirs, threshold=0.0, return_binary_maps=True, target_sizes=[(384, 384)]
    )[0]
    inst = results["instances"]
    keep = inst.pred_masks.flatten(1).any(1)  # HF drops empty masks
    mine = sorted(
        zip(inst.scores[keep].tolist(), inst.pred_classes[keep].tolist(), inst.pred_masks[keep]),
        key=lambda t: (-t[0], t[1]),
    )
    hf_masks = hf_instance["segmentation"]
    theirs_sorted = sorted(
        ((s["score"], s["label_id"], hf_masks[i].bool()) for i, s in enumerate(hf_instance["segments_info"])),
        key=lambda t: (-t[0], t[1]),
    )
    assert len(mine) == len(theirs_sorted) > 0
    for (score, label, mask), (hf_score, hf_label, hf_mask) in zip(mine, theirs_sorted):
        assert label == hf_label
        assert score == pytest.approx(hf_score, abs=2e-6)
        assert torch.equal(mask, hf_mask)


def _targets(batch, height, width):
    gen = torch.Generator().manual_seed(5)
    labels, masks = [], []
    for i in range(batch):
        n = 2 + i
        labels.append(torch.randint(0, NUM_CLASSES, (n,), generator=gen))
        masks.append(torch.rand(n, height, width, generator=gen) > 0.6)
    return labels, masks


def _training_inputs(images, labels, masks) -> list[dict]:
    """Our model's training inputs (64 x 96 images with their instances) for the HF batch."""
    return [
        {"image": img, "height": 64, "width": 96, "instances": Instances((64, 96), gt_classes=c, gt_masks=m)}
        for img, c, m in zip(images, labels, masks)
    ]


@pytest.mark.parametrize("backbone", ["R50", "SwinT"])
def test_training_losses_match_with_same_points(backbone):
    hf, ours = build_pair(backbone)
    hf.train()
    hf.model.pixel_level_module.encoder.eval()  # our backbone norms are frozen: HF BN on running stats
    ours.train()
    images = _images(2, 64, 96, seed=4)
    labels, masks = _targets(2, 64, 96)
    # Both draw their points with torch.rand in the official order: the same seed fixes them in both.
    torch.manual_seed(11)
    theirs = hf(pixel_values=_normalised(images), mask_labels=[m.float() for m in masks], class_labels=labels)
    inputs = _training_inputs(images, labels, masks)
    torch.manual_seed(11)
    losses = ours(inputs)
    assert len(losses) == 3 * 4
    torch.testing.assert_close(sum(losses.values()), theirs.loss, rtol=1e-4, atol=1e-4)


def test_maskformer_pixel_decoder_and_final_prediction_match():
    hf, ours = build_maskformer_pair()
    theirs, _, (mask_features, _, _), out = _forward_both(hf, ours)
    with torch.no_grad():
        # HF's auxiliary predictions deviate from the official MaskFormer: they read the decoder's
        # hidden states WITHOUT its final LayerNorm (DETR's return_intermediate applies it) and start
        # from the decoder input. Ours are the official ones: the shared heads on the normed output.
        hidden = theirs.transformer_decoder_hidden_states  # (input, after layer 1, after layer 2)
        hf_aux_logits = hf.class_predictor(hf.model.transformer_module.decoder.layernorm(hidden[1]))
    torch.testing.assert_close(mask_features, theirs.pixel_decoder_last_hidden_state, **TOL)
    torch.testing.assert_close(out["pred_logits"], theirs.class_queries_logits, **TOL)
    torch.testing.assert_close(out["pred_masks"], theirs.masks_queries_logits, **TOL)
    assert len(out["aux_outputs"]) == 1
    torch.testing.assert_close(out["aux_outputs"][0]["pred_logits"], hf_aux_logits, **TOL)
    assert not torch.allclose(theirs.auxiliary_logits[1]["class_queries_logits"], hf_aux_logits, atol=1e-2)


def test_maskformer_losses_match_without_deep_supervision():
    hf, ours = build_maskformer_pair(deep_supervision=False)
    hf.train()
    hf.model.pixel_level_module.encoder.eval()
    ours.train()
    images = _images(2, 64, 96, seed=4)
    labels, masks = _targets(2, 64, 96)
    theirs = hf(pixel_values=_normalised(images), mask_labels=[m.float() for m in masks], class_labels=labels)
    inputs = _training_inputs(images, labels, masks)
    losses = ours(inputs)
    assert sorted(losses) == ["loss_ce", "loss_dice", "loss_mask"]
    torch.testing.assert_close(sum(losses.values()), theirs.loss, rtol=1e-4, atol=1e-4)
