"""torch.export and ONNX exports of MaskFormer / Mask2Former against the eager model.

Each model is exported once (dynamic batch, height and width), then at two sizes the raw outputs
of both exports are within 1e-4 of eager PyTorch, and the post-processed results (semantic,
panoptic, instance) of a ``Predictor`` running each export equal the eager ``Predictor``'s.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from maskformer.config import get_cfg
from maskformer.engine import Predictor
from maskformer.export import (
    OnnxNetwork,
    SegmentationNetwork,
    example_images,
    export_onnx,
    export_program,
    load_program,
    output_differences,
    save_program,
)
from tests.helpers.paths import CONFIGS

TOLERANCE = 1e-4
# Pixels decided by a float tie may differ: a mask logit within ~1e-6 of 0, or two queries whose
# panoptic scores agree to ~1e-6 (common among the 100 similar queries of a random R50 model, where
# 5 of 76800 pixels flipped). At most 1 pixel in 10000.
MAX_FLIP_FRACTION = 1e-4


@pytest.fixture(autouse=True)
def _one_thread():
    """Eager and exported models compared on one intra-op thread (ONNX Runtime gets one too).

    With two threads the eager and exported graphs block their reductions differently, and the
    random R50's mask logits then differ by up to 3e-4, above TOLERANCE.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cfg(config: str, test_size: tuple[int, int]):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / config))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = test_size
    mf = cfg.MODEL.MASK_FORMER.TEST
    mf.SEMANTIC_ON = mf.PANOPTIC_ON = mf.INSTANCE_ON = True
    # Random weights give low class scores: keep every query so panoptic inference has segments.
    mf.OBJECT_MASK_THRESHOLD, mf.OVERLAP_THRESHOLD = 0.0, 0.0
    return cfg


def _photos(sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    gen = np.random.default_rng(0)
    return [gen.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def _differing(a: torch.Tensor, b: torch.Tensor) -> int:
    """Pixels where two maps differ (at most a fraction ``MAX_FLIP_FRACTION`` of them)."""
    count = int((a != b).sum())
    assert a.shape == b.shape and count <= MAX_FLIP_FRACTION * a.numel(), (count, a.numel())
    return count


def _compare_results(expected: list[dict], got: list[dict]) -> int:
    """Same segments, classes and scores; returns the number of pixels that differ.

    A pixel may only differ where the decision is a float tie: a mask logit within rounding of 0
    (instance masks, panoptic ``mask >= 0.5``) or two equal scores (argmax).
    """
    flips = 0
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have["sem_seg"], want["sem_seg"], rtol=0, atol=TOLERANCE)
        flips += _differing(want["sem_seg"].argmax(0), have["sem_seg"].argmax(0))
        assert want["panoptic_seg"][1] == have["panoptic_seg"][1]
        flips += _differing(want["panoptic_seg"][0], have["panoptic_seg"][0])
        a, b = want["instances"], have["instances"]
        assert torch.equal(a.pred_classes, b.pred_classes)
        torch.testing.assert_close(b.scores, a.scores, rtol=0, atol=TOLERANCE)
        flips += _differing(a.pred_masks, b.pred_masks)
        torch.testing.assert_close(b.pred_boxes, a.pred_boxes, rtol=0, atol=1.0)
    return flips


def _check_exports(cfg, num_things: int, sizes: list[tuple[int, int]], photos, tmp_path: Path) -> dict:
    """Exports the model at ``sizes[0]``; checks raw outputs at ``sizes`` and results on ``photos``.

    Returns:
        ``{export: worst max |Δ| over outputs and sizes}`` and ``{export + " pixels": differing pixels}``.
    """
    classes = {"class_names": [f"c{i}" for i in range(cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)]}
    classes["thing_ids"] = list(range(num_things))
    torch.manual_seed(0)
    eager = Predictor(cfg, **classes)
    network = SegmentationNetwork(eager.model)
    program = export_program(network, *sizes[0])
    exported = {
        "torch.export": load_program(save_program(program, tmp_path / "model.pt2")).module(),
        "onnx": OnnxNetwork(export_onnx(program, tmp_path / "model.onnx"), threads=1),
    }
    worst: dict = {}
    for height, width in sizes:
        images = example_images(network, height, width)
        for name, diffs in output_differences(network, exported, images).items():
            assert max(diffs.values()) <= TOLERANCE, (name, height, width, diffs)
            worst[name] = max(worst.get(name, 0.0), *diffs.values())
    expected = eager.predict_batch(photos)
    assert all(r["panoptic_seg"][1] for r in expected) and all(len(r["instances"]) for r in expected)
    for name, run in exported.items():
        got = Predictor(cfg, network=run, **classes).predict_batch(photos)
        worst[name + " pixels"] = _compare_results(expected, got)
    return worst


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        "shapes/panoptic-segmentation/maskformer2_R18_shapes.yaml",
        "shapes/panoptic-segmentation/maskformer_R18_shapes.yaml",
    ],
)
def test_shapes_models_export(config, tmp_path):
    # The photos are resized and padded to 96x128 and 96x160.
    cfg = _cfg(config, (96, 160))
    _check_exports(cfg, 4, [(128, 160), (96, 160)], _photos([(128, 160), (90, 150)]), tmp_path)


@pytest.mark.slow
def test_r50_coco_panoptic_mask2former_export(tmp_path):
    cfg = _cfg("coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml", (192, 320))  # 192x256, 160x320
    _check_exports(cfg, 80, [(256, 320), (192, 256)], _photos([(256, 320), (192, 400)]), tmp_path)
