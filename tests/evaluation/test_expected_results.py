import math

import pytest

from maskformer.config import get_cfg
from maskformer.evaluation import check_expected_results, verify_results

RESULTS = {"panoptic_seg": {"PQ": 52.31, "SQ": 80.0}, "segm": {"AP": 41.0, "APl": math.nan}}


def test_within_tolerance_passes_and_outside_fails():
    assert (
        check_expected_results([["panoptic_seg", "PQ", 52.0, 0.5], ["segm", "AP", 41.0, 0.0]], RESULTS) == []
    )
    failures = check_expected_results(
        [["panoptic_seg", "PQ", 52.0, 0.3], ["panoptic_seg", "SQ", 80, 1]], RESULTS
    )
    assert failures == ["panoptic_seg/PQ: 52.3100, expected 52.0 +- 0.3"]


def test_missing_and_nan_results_fail():
    failures = check_expected_results([["sem_seg", "mIoU", 50, 1], ["segm", "APl", 0, 100]], RESULTS)
    assert failures[0] == "sem_seg/mIoU: missing (tasks evaluated: ['panoptic_seg', 'segm'])"
    assert failures[1].startswith("segm/APl: nan")


def test_malformed_entry_is_named():
    with pytest.raises(
        ValueError, match=r"\['panoptic_seg', 'PQ', 52.0\].*\[task, metric, value, tolerance\]"
    ):
        check_expected_results([["panoptic_seg", "PQ", 52.0]], RESULTS)


def test_verify_results_raises_with_every_failure():
    cfg = get_cfg()
    cfg.DATASETS.TEST = ("shapes_val_panoptic",)
    verify_results(cfg, RESULTS)  # no expectations: nothing to check
    cfg.TEST.EXPECTED_RESULTS = [["panoptic_seg", "PQ", 60.0, 1.0], ["segm", "AP", 30.0, 1.0]]
    with pytest.raises(RuntimeError, match=r"(?s)panoptic_seg/PQ: 52.3100.*segm/AP: 41.0000"):
        verify_results(cfg, RESULTS)
    cfg.DATASETS.TEST = ("a", "b")
    with pytest.raises(ValueError, match="exactly one test dataset"):
        verify_results(cfg, RESULTS)
