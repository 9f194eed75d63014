"""Per-pixel baselines (MaskFormer paper Tables 2/4): heads, loss, SemanticSegmentor."""

import pytest
import torch
import torch.nn.functional as F

from maskformer.criterion import PerPixelCrossEntropy, per_pixel_cross_entropy
from maskformer.modeling import build_model
from tests.helpers.tiny_maskformer import NUM_CLASSES, tiny_cfg


def baseline_cfg(plus: bool):
    cfg = tiny_cfg()
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "PerPixelBaselinePlusHead" if plus else "PerPixelBaselineHead"
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = NUM_CLASSES
    return cfg


def sem_seg_batch():
    inputs = []
    for i, (h, w) in enumerate([(64, 64), (40, 52)]):
        label = torch.randint(0, NUM_CLASSES, (h, w))
        label[:4] = 255
        image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
        inputs.append({"image": image, "sem_seg": label, "height": h, "width": w, "file_name": f"{i}.png"})
    return inputs


def test_per_pixel_cross_entropy_exact():
    logits = torch.zeros(1, 2, 1, 1)
    logits[0, 1] = 1.0
    targets = torch.tensor([[[1, 255], [0, 1]]])
    # Upsampled logits are constant: CE(label 1) = log(1 + e^-1), CE(label 0) = log(1 + e).
    expected = (
        2 * torch.log1p(torch.exp(torch.tensor(-1.0))) + torch.log1p(torch.exp(torch.tensor(1.0)))
    ) / 3
    torch.testing.assert_close(per_pixel_cross_entropy(logits, targets, 255, common_stride=2), expected)


@pytest.mark.parametrize("plus", [False, True])
def test_baseline_trains_and_infers(plus):
    torch.manual_seed(0)
    model = build_model(baseline_cfg(plus))
    assert isinstance(model.criterion, PerPixelCrossEntropy)  # the loss lives in the criterion, not the head
    losses = model(sem_seg_batch())
    expected_keys = {"loss_sem_seg"} | ({"loss_sem_seg_0"} if plus else set())
    assert set(losses) == expected_keys
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        results = model(sem_seg_batch())
    assert [tuple(r["sem_seg"].shape) for r in results] == [(NUM_CLASSES, 64, 64), (NUM_CLASSES, 40, 52)]


def test_plus_head_has_no_class_head_and_one_query_per_class():
    model = build_model(baseline_cfg(plus=True))
    names = set(model.state_dict())
    assert "sem_seg_head.predictor.query_embed.weight" in names
    assert not any("class_embed" in n for n in names)
    cfg = baseline_cfg(plus=True)
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 7
    with pytest.raises(ValueError, match="NUM_OBJECT_QUERIES"):
        build_model(cfg)


def test_targets_padded_with_ignore_value():
    model = build_model(baseline_cfg(plus=False))
    inputs = sem_seg_batch()
    targets = model.prepare_targets(inputs, (64, 64))
    assert targets.shape == (2, 64, 64) and targets.dtype == torch.int64
    assert (targets[1, 40:] == 255).all() and (targets[1, :, 52:] == 255).all()
    torch.testing.assert_close(targets[1, :40, :52], inputs[1]["sem_seg"])


def test_baseline_loss_equals_manual_cross_entropy():
    torch.manual_seed(0)
    model = build_model(baseline_cfg(plus=False))
    inputs = sem_seg_batch()
    losses = model(inputs)
    images = model.preprocess_image(inputs)
    logits = model.sem_seg_head(model.backbone(images.tensor))["sem_seg_logits"]
    up = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
    expected = F.cross_entropy(up, model.prepare_targets(inputs, (64, 64)), ignore_index=255)
    torch.testing.assert_close(losses["loss_sem_seg"], expected)


def test_missing_sem_seg_error():
    model = build_model(baseline_cfg(plus=False))
    inputs = sem_seg_batch()
    del inputs[1]["sem_seg"]
    with pytest.raises(KeyError, match="sem_seg"):
        model(inputs)


def test_batch_padding_is_the_backbones_own():
    """Detectron2's SemanticSegmentor pads to backbone.size_divisibility (0 for ResNet, 32 for Swin);
    MODEL.MASK_FORMER.SIZE_DIVISIBILITY (32 in tiny_cfg) is not read."""
    assert build_model(baseline_cfg(plus=False)).size_divisibility == 0
    cfg = baseline_cfg(plus=False)
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.EMBED_DIM = 16
    cfg.MODEL.SWIN.NUM_HEADS = [1, 2, 2, 4]
    cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = 0
    assert build_model(cfg).size_divisibility == 32


def test_unpadded_odd_size_trains_and_infers_like_detectron2():
    """A 30x38 image is not padded (ResNet); the stride-4 logits cover 32x40. Training pads the
    labels with ignore to 32x40; inference upsamples the logits x4, crops 30x38, resizes."""
    torch.manual_seed(0)
    model = build_model(baseline_cfg(plus=False))
    label = torch.randint(0, NUM_CLASSES, (30, 38))
    image = torch.randint(0, 256, (3, 30, 38), dtype=torch.uint8)
    inputs = [{"image": image, "sem_seg": label, "height": 45, "width": 57}]
    images = model.preprocess_image(inputs)
    assert images.tensor.shape[-2:] == (30, 38)
    logits = model.sem_seg_head(model.backbone(images.tensor))["sem_seg_logits"]
    assert logits.shape[-2:] == (8, 10)
    up = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)  # [1, K, 32, 40]
    targets = torch.full((1, 32, 40), 255)
    targets[0, :30, :38] = label
    expected_loss = F.cross_entropy(up, targets, ignore_index=255)
    torch.testing.assert_close(model(inputs)["loss_sem_seg"], expected_loss)
    model.eval()
    with torch.no_grad():
        result = model(inputs)[0]["sem_seg"]
    expected = F.interpolate(up[:, :, :30, :38], size=(45, 57), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(result, expected.detach())
