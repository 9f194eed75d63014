"""Semantic test-time augmentation."""

import torch
from torch import nn

from maskformer.config import get_cfg
from maskformer.inference.tta import SemanticSegmentorWithTTA, resize_image, shortest_edge_size


class PointwiseSegmentor(nn.Module):
    """Per-pixel class scores from the colour (flip-equivariant), resized to height x width."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, num_classes, 1)
        self.seen_sizes = []

    def forward(self, batched_inputs):
        outputs = []
        for inp in batched_inputs:
            self.seen_sizes.append(tuple(inp["image"].shape[-2:]))
            scores = self.proj(inp["image"][None].float() / 255).softmax(dim=1)
            scores = nn.functional.interpolate(scores, size=(inp["height"], inp["width"]), mode="bilinear")
            outputs.append({"sem_seg": scores[0]})
        return outputs


def _inputs(h=12, w=20):
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    return [{"image": image, "height": 24, "width": 40, "file_name": "a.jpg"}]


def test_shortest_edge_size():
    assert shortest_edge_size(480, 640, 800, 1333) == (800, 1067)
    assert shortest_edge_size(100, 1000, 800, 1333) == (133, 1333)
    assert shortest_edge_size(12, 20, 12, 4000) == (12, 20)


def test_resize_image_same_size_is_identity_and_sizes_match():
    image = _inputs()[0]["image"]
    assert resize_image(image, (12, 20)) is image
    assert resize_image(image, (6, 10)).shape == (3, 6, 10)
    assert resize_image(image.float(), (24, 40)).dtype == torch.float32


def test_identity_augmentation_equals_plain_inference():
    model = PointwiseSegmentor().eval()
    tta = SemanticSegmentorWithTTA(model, min_sizes=[12], max_size=4000, flip=False)
    inputs = _inputs()
    expected = model(inputs)[0]["sem_seg"]
    assert torch.equal(tta(inputs)[0]["sem_seg"], expected)


def test_flip_of_equivariant_model_equals_plain_inference():
    model = PointwiseSegmentor().eval()
    tta = SemanticSegmentorWithTTA(model, min_sizes=[12], max_size=4000, flip=True, batch_size=2)
    inputs = _inputs()
    expected = model(inputs)[0]["sem_seg"]
    torch.testing.assert_close(tta(inputs)[0]["sem_seg"], expected, rtol=0, atol=1e-6)


def test_multi_scale_sizes_and_average():
    model = PointwiseSegmentor().eval()
    tta = SemanticSegmentorWithTTA(model, min_sizes=[6, 12, 18], max_size=25, flip=True)
    inputs = _inputs()
    model.seen_sizes.clear()
    result = tta(inputs)[0]["sem_seg"]
    assert model.seen_sizes == [(6, 10), (6, 10), (12, 20), (12, 20), (15, 25), (15, 25)]
    assert result.shape == (4, 24, 40)
    torch.testing.assert_close(result.sum(dim=0), torch.ones(24, 40))


def test_from_config():
    cfg = get_cfg()
    cfg.TEST.AUG.MIN_SIZES = [8, 16]
    cfg.TEST.AUG.MAX_SIZE = 100
    cfg.TEST.AUG.FLIP = False
    tta = SemanticSegmentorWithTTA(cfg, PointwiseSegmentor())
    assert (tta.min_sizes, tta.max_size, tta.flip) == ([8, 16], 100, False)
