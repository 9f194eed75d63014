"""Semantic inference and sem_seg_postprocess on hand-derived cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from maskformer.inference import resize_bilinear, sem_seg_postprocess, semantic_inference


def test_semantic_formula_by_hand():
    # q0: softmax [1/3, 1/3, 1/3]; q1: softmax [3/5, 1/5, 1/5] (last column = no object).
    mask_cls = torch.tensor([[0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0]])
    # Pixel 0: sigmoid 0.5 for both; pixel 1: q0 0.75, q1 0.25.
    mask_pred = torch.tensor([[[0.0, math.log(3.0)]], [[0.0, -math.log(3.0)]]])
    out = semantic_inference(mask_cls, mask_pred)
    assert out.shape == (2, 1, 2)
    expected = torch.tensor(
        [
            [[1 / 3 * 0.5 + 3 / 5 * 0.5, 1 / 3 * 0.75 + 3 / 5 * 0.25]],
            [[1 / 3 * 0.5 + 1 / 5 * 0.5, 1 / 3 * 0.75 + 1 / 5 * 0.25]],
        ]
    )
    torch.testing.assert_close(out, expected)


def test_semantic_matches_loop_on_random_input():
    mask_cls, mask_pred = torch.randn(5, 4), torch.randn(5, 3, 6)
    probs = mask_cls.softmax(-1)
    expected = sum(probs[q, :3, None, None] * mask_pred[q].sigmoid() for q in range(5))
    torch.testing.assert_close(semantic_inference(mask_cls, mask_pred), expected)


def test_postprocess_crops_padding_then_resizes():
    result = torch.full((2, 4, 5), -7.0)  # padding holds garbage
    result[:, :1, :2] = torch.tensor([[[0.0, 1.0]], [[2.0, 4.0]]])
    out = sem_seg_postprocess(result, (1, 2), 1, 4)
    # Bilinear, align_corners=False: sample x = -0.25, 0.25, 0.75, 1.25 -> clamped at the borders.
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.25, 0.75, 1.0]], [[2.0, 2.5, 3.5, 4.0]]]))
    # Same size: exactly the crop.
    torch.testing.assert_close(sem_seg_postprocess(result, (3, 4), 3, 4), result[:, :3, :4])


def test_postprocess_rejects_image_larger_than_prediction():
    with pytest.raises(ValueError, match="upsample"):
        sem_seg_postprocess(torch.zeros(1, 4, 4), (8, 8), 8, 8)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("queries,classes,height,width", [(3, 2, 5, 7), (7, 5, 33, 17), (100, 133, 256, 256)])
def test_semantic_equals_the_official_einsum_bit_for_bit(threads, queries, classes, height, width):
    # The last shape's result (35 MB) takes the huge-page allocation of empty_for_writing.
    gen = torch.Generator().manual_seed(height)
    mask_cls = torch.randn(queries, classes + 1, generator=gen)
    mask_pred = torch.randn(queries, height, width, generator=gen)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = semantic_inference(mask_cls, mask_pred)
        expected = torch.einsum("qc,qhw->chw", mask_cls.softmax(-1)[:, :-1], mask_pred.sigmoid())
    finally:
        torch.set_num_threads(before)
    assert got.is_contiguous() and torch.equal(got, expected)


@pytest.mark.parametrize("size", [(8, 12), (5, 3), (200, 272)])
def test_resize_bilinear_equals_interpolate(size):
    x = torch.randn(4, 20, 30)[:, 3:17, 2:27]  # a crop: not contiguous
    expected = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
    assert torch.equal(resize_bilinear(x, size), expected)
