"""MaskFormer inference: the official order of resizing and sigmoid, and the panoptic rule of each
model family, on hand-made predictions (a stub backbone and head, so nothing is learned)."""


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskformer.config import get_cfg
from maskformer.modeling import Backbone, MaskFormer, build_model
from maskformer.utils.analysis import skip_weight_init
from tests.helpers.paths import REPO

FIXTURE_CONFIGS = REPO / "tests" / "fixtures" / "configs"

MASK_CLS = torch.tensor([[3.0, 0.0, -1.0], [0.0, 2.0, -1.0]])  # [Q=2, K+1=3]
MASKS = torch.tensor(  # [Q, 4, 4] logits at stride 4 of the 16x16 padded batch
    [
        [[4.0, -4.0, 2.0, 0.0], [-3.0, 1.0, -2.0, 3.0], [0.0, 5.0, -5.0, 1.0], [2.0, 2.0, -1.0, -3.0]],
        [[-2.0, 3.0, -4.0, 1.0], [1.0, -1.0, 4.0, -2.0], [3.0, -3.0, 0.0, 2.0], [-1.0, 4.0, 1.0, 0.0]],
    ]
)


class _Stub(Backbone):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"res2": x}


class _FixedHead(nn.Module):
    def forward(self, features: dict[str, torch.Tensor]) -> dict:
        return {"pred_logits": MASK_CLS[None], "pred_masks": MASKS[None], "aux_outputs": []}


def _model(**kw) -> MaskFormer:
    args = dict(
        backbone=_Stub(),
        sem_seg_head=_FixedHead(),
        criterion=None,
        pixel_mean=[0.0, 0.0, 0.0],
        pixel_std=[1.0, 1.0, 1.0],
        size_divisibility=16,
        thing_ids=[0],
        num_classes=2,
    )
    return MaskFormer(**{**args, **kw}).eval()


def _official_sem_seg(resize_logits_first: bool) -> torch.Tensor:
    """The official sequence for an 8x12 image padded to 16x16, reported at 5x7."""
    up = F.interpolate(MASKS[None], size=(16, 16), mode="bilinear", align_corners=False)[:, :, :8, :12]
    probs = MASK_CLS.softmax(-1)[:, :-1]
    if resize_logits_first:
        logits = F.interpolate(up, size=(5, 7), mode="bilinear", align_corners=False)[0]
        return torch.einsum("qc,qhw->chw", probs, logits.sigmoid())
    scores = torch.einsum("qc,qhw->chw", probs, up[0].sigmoid())
    return F.interpolate(scores[None], size=(5, 7), mode="bilinear", align_corners=False)[0]


@pytest.mark.parametrize(
    "panoptic_on,instance_on,before,resize_first",
    [
        (False, False, False, False),
        (False, False, True, True),
        (True, False, False, True),
        (False, True, False, True),
    ],
)
def test_semantic_scores_follow_the_official_resize_order(panoptic_on, instance_on, before, resize_first):
    model = _model(
        panoptic_on=panoptic_on, instance_on=instance_on, sem_seg_postprocess_before_inference=before
    )
    image = {"image": torch.zeros(3, 8, 12, dtype=torch.uint8), "height": 5, "width": 7}
    with torch.no_grad():
        result = model([image])[0]
    torch.testing.assert_close(result["sem_seg"], _official_sem_seg(resize_first))
    # The two orders differ on this case (the sigmoid does not commute with the resize).
    assert (_official_sem_seg(True) - _official_sem_seg(False)).abs().max() > 1e-2


def test_panoptic_rule_is_chosen_per_model():
    """Query 0 wins pixel 1 with mask probability 0.4: MaskFormer paints it, Mask2Former leaves it void."""
    logit = torch.logit(torch.tensor([[0.9, 0.4, 0.1], [0.1, 0.2, 0.9]]))[:, None, :]  # [Q, 1, 3]
    cls = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])

    class Head(nn.Module):
        def forward(self, features):
            return {"pred_logits": cls[None], "pred_masks": logit[None], "aux_outputs": []}

    image = {"image": torch.zeros(3, 1, 3, dtype=torch.uint8), "height": 1, "width": 3}
    results = {}
    for clip in (False, True):
        model = _model(
            sem_seg_head=Head(), size_divisibility=0, panoptic_on=True, panoptic_clip_to_mask=clip
        )
        with torch.no_grad():
            results[clip] = model([image])[0]["panoptic_seg"][0].tolist()
    assert results == {False: [[1, 1, 2]], True: [[1, 0, 2]]}


@pytest.mark.parametrize(
    "config,clip",
    [
        (REPO / "configs/maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml", False),
        (FIXTURE_CONFIGS / "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml", False),
        (REPO / "configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml", True),
        (FIXTURE_CONFIGS / "mask2former/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml", True),
    ],
    ids=["ours-mf", "official-mf", "ours-m2f", "official-m2f"],
)
def test_family_of_the_config_selects_the_panoptic_rule(config, clip):
    cfg = get_cfg()
    cfg.merge_from_file(str(config))
    cfg.MODEL.DEVICE = "cpu"
    with skip_weight_init():
        model = build_model(cfg, thing_ids=range(80))
    assert model.panoptic_on and model.panoptic_clip_to_mask is clip
