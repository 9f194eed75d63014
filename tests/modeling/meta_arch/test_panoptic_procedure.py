"""MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE picks the papers' panoptic inference or DETR's."""

import pytest
import torch

from maskformer.modeling import build_model
from maskformer.modeling.meta_arch import mask_former
from tests.helpers.tiny_maskformer import THING_IDS, batch, tiny_cfg


@pytest.mark.parametrize(
    ("procedure", "called"), [("detr", "detr_panoptic_inference"), ("mask_former", "panoptic_inference")]
)
def test_the_config_selects_the_procedure(procedure, called, monkeypatch):
    calls = []
    for name in ("detr_panoptic_inference", "panoptic_inference"):
        original = getattr(mask_former, name)
        monkeypatch.setattr(
            mask_former, name, lambda *a, _n=name, _f=original, **k: calls.append(_n) or _f(*a, **k)
        )
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE = procedure
    model = build_model(cfg, thing_ids=THING_IDS).eval()
    with torch.no_grad():
        seg, _ = model(batch())[0]["panoptic_seg"]
    assert calls == [called, called] and seg.shape == (128, 128)


def test_unknown_procedure_is_refused():
    cfg = tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE = "pixel_vote"
    with pytest.raises(ValueError, match="PANOPTIC_PROCEDURE='pixel_vote'"):
        build_model(cfg, thing_ids=THING_IDS)
