"""load_config: the config file, its _BASE_ and the command-line overrides, as every tool loads them."""

import pytest

from maskformer.config import load_config


def test_load_config_merges_base_file_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 7\n")
    (tmp_path / "leaf.yaml").write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 9\n")
    cfg = load_config(str(tmp_path / "leaf.yaml"), ["SOLVER.IMS_PER_BATCH", "4"])
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER, cfg.SOLVER.IMS_PER_BATCH) == (0.5, 9, 4)
    assert cfg.is_frozen()
    with pytest.raises(AttributeError):
        cfg.SOLVER.MAX_ITER = 1
    mutable = load_config(str(tmp_path / "leaf.yaml"), freeze=False)
    mutable.SOLVER.MAX_ITER = 1
    assert mutable.SOLVER.MAX_ITER == 1
