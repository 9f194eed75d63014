"""The one-pass post-processing equals the straightforward official procedure, bit for bit.

The reference below is the official sequence written plainly (resize every query's logits to the
padded size, crop, resize, one sigmoid per inference, the panoptic argmax over the stacked products,
a Python loop over kept queries, per-pair instance masks); the model's ``postprocess`` must give
exactly its tensors (``torch.equal``), for every combination of inferences.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskformer.inference import (
    instance_inference,
    panoptic_inference,
    sem_seg_postprocess,
    sigmoid_is_shareable,
    upsample_masks,
)
from maskformer.inference.winner import winning_query
from maskformer.modeling import Backbone, MaskFormer
from maskformer.structures import ImageList, masks_to_boxes

THING_IDS = [0, 1]


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]


def _reference_panoptic(cls, logits, threshold=0.8, overlap=0.8):
    scores, labels = cls.softmax(-1).max(-1)
    keep = labels.ne(cls.shape[-1] - 1) & (scores > threshold)
    masks = logits[keep].sigmoid()
    seg = torch.zeros(logits.shape[-2:], dtype=torch.int32)
    info, stuff = [], {}
    if masks.shape[0] == 0:
        return seg, info
    winner = (scores[keep][:, None, None] * masks).argmax(0)
    for k, category in enumerate(labels[keep].tolist()):
        won = winner == k
        segment = won & (masks[k] >= 0.5)
        area, original = int(won.sum()), int((masks[k] >= 0.5).sum())
        if area == 0 or original == 0 or not segment.any() or area / original < overlap:
            continue
        if category not in THING_IDS and category in stuff:
            seg[segment] = stuff[category]
            continue
        seg[segment] = len(info) + 1
        info.append({"id": len(info) + 1, "category_id": category, "isthing": category in THING_IDS})
        if category not in THING_IDS:
            stuff[category] = len(info)
    return seg, info


def _reference_instances(cls, logits, panoptic_on, topk=5):
    num_classes = cls.shape[-1] - 1
    class_scores, pair = cls.softmax(-1)[:, :-1].flatten().topk(topk, sorted=True)
    classes, queries = pair % num_classes, pair // num_classes
    if panoptic_on:
        thing = torch.isin(classes, torch.tensor(THING_IDS))
        class_scores, classes, queries = class_scores[thing], classes[thing], queries[thing]
    masks = logits[queries]
    binary = (masks > 0).float()
    mean = (masks.sigmoid().flatten(1) * binary.flatten(1)).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    return binary.bool(), class_scores * mean, classes, masks_to_boxes(binary.bool())


def _reference(cls, low, padded, image_size, out_size, semantic, panoptic, instance):
    logits = _resize(low, padded)[:, : image_size[0], : image_size[1]]
    logits = _resize(logits, out_size)
    result = {}
    if semantic:
        result["sem_seg"] = torch.einsum("qc,qhw->chw", cls.softmax(-1)[:, :-1], logits.sigmoid())
    if panoptic:
        result["panoptic_seg"] = _reference_panoptic(cls, logits)
    if instance:
        result["instances"] = _reference_instances(cls, logits, panoptic)
    return result


class _Stub(Backbone):
    def forward(self, x):
        return {"res2": x}


def _predictions(height: int, width: int, seed: int = 0):
    """Four queries: two confident things and a confident stuff, each over a third of the width
    with noisy borders, and a weak one repeating the first's mask; ties in the logits."""
    gen = torch.Generator().manual_seed(seed)
    cls = torch.randn(4, 5, generator=gen)
    cls[[0, 1, 2], [0, 1, 2]] = 6.0  # classes 0, 1 (things), 2 (stuff); class 4 = no object
    low = (torch.randn(4, height // 4, width // 4, generator=gen) * 2).round() - 4
    third = width // 12
    for q in range(3):
        low[q, :, q * third : (q + 1) * third] += 8
    low[3] = low[0]
    return cls, low


def _postprocess(cls, low, padded, image_size, out_size, on, **kw):
    semantic, panoptic, instance = (bool(v) for v in on)
    model = MaskFormer(
        backbone=_Stub(), sem_seg_head=nn.Identity(), criterion=None, pixel_mean=[0.0] * 3,
        pixel_std=[1.0] * 3, size_divisibility=32, thing_ids=THING_IDS, num_classes=4,
        semantic_on=semantic, panoptic_on=panoptic, instance_on=instance, test_topk_per_image=5, **kw,
    ).eval()
    images = ImageList(torch.zeros(1, 3, *padded), [image_size])
    outputs = {"pred_logits": cls[None], "pred_masks": low[None]}
    return model.postprocess(outputs, [{"height": out_size[0], "width": out_size[1]}], images)[0]


@pytest.mark.parametrize("on", [(1, 1, 1), (0, 1, 1), (0, 0, 1), (0, 1, 0), (1, 0, 1)], ids=str)
@pytest.mark.parametrize(
    "padded,image_size,out_size",
    [((32, 64), (32, 64), (32, 64)), ((32, 64), (29, 57), (21, 35))],
    ids=["same-size", "crop-and-resize"],
)
def test_postprocess_equals_the_plain_official_procedure(on, padded, image_size, out_size):
    semantic, panoptic, instance = on
    cls, low = _predictions(*padded)
    got = _postprocess(cls, low, padded, image_size, out_size, on)
    expected = _reference(cls, low, padded, image_size, out_size, semantic, panoptic, instance)
    assert got.keys() == expected.keys()
    if semantic:
        assert torch.equal(got["sem_seg"], expected["sem_seg"])
    if panoptic:
        assert torch.equal(got["panoptic_seg"][0], expected["panoptic_seg"][0])
        assert got["panoptic_seg"][1] == expected["panoptic_seg"][1] and got["panoptic_seg"][1]
    if instance:
        inst, (masks, scores, classes, boxes) = got["instances"], expected["instances"]
        assert len(inst) > 0
        assert torch.equal(inst.pred_masks, masks) and torch.equal(inst.scores, scores)
        assert torch.equal(inst.pred_classes, classes) and torch.equal(inst.pred_boxes, boxes)


def test_nothing_on_gives_an_empty_result():
    cls, low = _predictions(32, 64)
    for before in (False, True):
        args = (cls, low, (32, 64), (32, 64), (32, 64), (0, 0, 0))
        assert _postprocess(*args, sem_seg_postprocess_before_inference=before) == {}


def test_shared_sigmoid_gives_the_same_panoptic_and_instances():
    cls, low = _predictions(64, 64, seed=1)
    logits = _resize(low, (64, 64))  # 4096 pixels per query: a multiple of the vector block
    probs = logits.sigmoid()
    alone = panoptic_inference(cls, logits, THING_IDS, 0.8, 0.8)
    shared = panoptic_inference(cls, logits, THING_IDS, 0.8, 0.8, mask_prob=probs)
    assert torch.equal(alone[0], shared[0]) and alone[1] == shared[1]
    a = instance_inference(cls, logits, THING_IDS, False, topk=8)
    b = instance_inference(cls, logits, THING_IDS, False, topk=8, mask_prob=probs)
    for field in ("pred_masks", "scores", "pred_classes", "pred_boxes"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_winning_query_is_the_first_argmax():
    masks = torch.tensor([[[0.2, 0.5, 0.9]], [[0.4, 0.5, 0.1]], [[0.4, 0.6, 0.9]]])  # [3, 1, 3]
    winner, value = winning_query(masks, [0, 1, 2])
    assert winner.tolist() == [[1, 2, 0]] and torch.equal(value, torch.tensor([[0.4, 0.6, 0.9]]))
    # Weighted, over rows in a given order (positions index ``rows``); pixel 0 ties: the first wins.
    winner, value = winning_query(masks, [2, 0], torch.tensor([0.5, 1.0]))
    assert winner.tolist() == [[0, 1, 1]] and torch.equal(value, torch.tensor([[0.4, 0.5, 0.9]]))
    products = torch.tensor([0.5, 1.0])[:, None, None] * masks[[2, 0]]
    assert torch.equal(winner, products.argmax(0))
    with pytest.raises(ValueError, match="at least one row"):
        winning_query(masks, [])


def test_resize_to_the_same_size_is_skipped_exactly_and_queries_resize_independently():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 9, 13, generator=gen)
    assert torch.equal(sem_seg_postprocess(x, (9, 13), 9, 13), _resize(x, (9, 13)))
    assert torch.equal(sem_seg_postprocess(x, (7, 11), 7, 11), _resize(x[:, :7, :11].contiguous(), (7, 11)))
    full = upsample_masks(x, (36, 52), (33, 50), (20, 31))
    assert full.shape == (5, 20, 31)
    assert torch.equal(upsample_masks(x[[1, 4]], (36, 52), (33, 50), (20, 31)), full[[1, 4]])


def test_sigmoid_is_shareable_by_row_length_and_threads():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert sigmoid_is_shareable(64 * 7) and not sigmoid_is_shareable(100)
        x = torch.randn(7, 64 * 7)
        assert all(torch.equal(x.sigmoid()[rows], x[rows].sigmoid()) for rows in ([6], [1, 3], [0, 2, 5]))
        torch.set_num_threads(2)
        assert sigmoid_is_shareable(800 * 1088) and not sigmoid_is_shareable(64 * 7)
    finally:
        torch.set_num_threads(threads)
