"""CfgNode: _BASE_ chains, strict keys with suggestions, type checks, overrides, compat handling."""

from __future__ import annotations

import logging

import pytest
import yaml

from maskformer.config import CfgNode, ConfigError, ConfigKeyError, compat, get_cfg


def _write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_get_cfg_is_a_fresh_copy():
    a, b = get_cfg(), get_cfg()
    a.SOLVER.BASE_LR = 0.5
    assert b.SOLVER.BASE_LR == 0.001
    assert isinstance(a, CfgNode) and not a.is_frozen()


def test_base_chain_relative_nested_and_list(tmp_path):
    _write(tmp_path / "common" / "a.yaml", "SOLVER:\n  BASE_LR: 0.1\n  MAX_ITER: 10\n")
    _write(tmp_path / "common" / "b.yaml", "_BASE_: a.yaml\nSOLVER:\n  MAX_ITER: 20\n  GAMMA: 0.5\n")
    _write(tmp_path / "common" / "c.yaml", "SOLVER:\n  GAMMA: 0.25\n  STEPS: [1, 2]\n")
    leaf = _write(
        tmp_path / "x" / "y" / "leaf.yaml",
        "_BASE_: [../../common/b.yaml, ../../common/c.yaml]\nSOLVER:\n  STEPS: [3]\n",
    )
    cfg = get_cfg()
    cfg.merge_from_file(leaf)
    # a <- b (nested), then c over b (list order), then the leaf itself.
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER, cfg.SOLVER.GAMMA) == (0.1, 20, 0.25)
    assert cfg.SOLVER.STEPS == [3]
    assert CfgNode.load_yaml_with_base(leaf)["SOLVER"]["MAX_ITER"] == 20


def test_base_cycle_and_missing_base(tmp_path):
    a = _write(tmp_path / "a.yaml", "_BASE_: b.yaml\n")
    _write(tmp_path / "b.yaml", "_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        get_cfg().merge_from_file(a)
    c = _write(tmp_path / "c.yaml", "_BASE_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"nowhere\.yaml \(a _BASE_ of .*c\.yaml\)"):
        get_cfg().merge_from_file(c)
    with pytest.raises(ConfigError, match="not found"):
        get_cfg().merge_from_file(str(tmp_path / "absent.yaml"))


def test_unknown_keys_name_file_and_suggest(tmp_path):
    path = _write(
        tmp_path / "bad.yaml", "MODEL:\n  MASK_FORMER:\n    DEC_LAYER: 3\nSOLVER:\n  BASE_LRR: 1.0\n"
    )
    with pytest.raises(ConfigKeyError) as info:
        get_cfg().merge_from_file(path)
    message = str(info.value)
    assert path in message
    assert "MODEL.MASK_FORMER.DEC_LAYER (did you mean 'MODEL.MASK_FORMER.DEC_LAYERS'" in message
    assert "SOLVER.BASE_LRR (did you mean 'SOLVER.BASE_LR'" in message
    assert isinstance(info.value, KeyError)


def test_unknown_section_and_section_value_mixups(tmp_path):
    with pytest.raises(ConfigKeyError, match="MODEL.MASKFORMER"):
        get_cfg().merge_from_file(_write(tmp_path / "a.yaml", "MODEL:\n  MASKFORMER:\n    NHEADS: 4\n"))
    with pytest.raises(ConfigError, match="'MODEL.SWIN' is a section"):
        get_cfg().merge_from_file(_write(tmp_path / "b.yaml", "MODEL:\n  SWIN: 3\n"))
    with pytest.raises(ConfigError, match="'SOLVER.BASE_LR' is a value"):
        get_cfg().merge_from_file(_write(tmp_path / "c.yaml", "SOLVER:\n  BASE_LR:\n    X: 1\n"))


def test_file_values_are_type_checked(tmp_path):
    path = _write(tmp_path / "t.yaml", "SOLVER:\n  MAX_ITER: ten\n")
    with pytest.raises(ConfigError, match=r"t\.yaml: 'SOLVER.MAX_ITER' expects a int .* got str 'ten'"):
        get_cfg().merge_from_file(path)
    cfg = get_cfg()
    cfg.merge_from_file(
        _write(tmp_path / "ok.yaml", "SOLVER:\n  BASE_LR: 1\n  STEPS: (5, 6)\n  WARMUP_FACTOR: 1e-3\n")
    )
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float)
    assert cfg.SOLVER.STEPS == [5, 6]
    assert cfg.SOLVER.WARMUP_FACTOR == 0.001


def test_merge_from_list():
    cfg = get_cfg()
    cfg.merge_from_list(
        [
            "SOLVER.BASE_LR",
            "2",
            "MODEL.MASK_FORMER.TEST.PANOPTIC_ON",
            "True",
            "INPUT.MIN_SIZE_TRAIN",
            "(256, 512)",
            "MODEL.WEIGHTS",
            "model_final.pth",
            "SOLVER.WEIGHT_DECAY_BIAS",
            "0.0",
            "OUTPUT_DIR",
            "/tmp/out",
        ]
    )
    assert cfg.SOLVER.BASE_LR == 2.0
    assert cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON is True
    assert cfg.INPUT.MIN_SIZE_TRAIN == [256, 512]
    assert cfg.MODEL.WEIGHTS == "model_final.pth"
    assert cfg.SOLVER.WEIGHT_DECAY_BIAS == 0.0  # default None accepts any type
    with pytest.raises(ConfigError, match="'SOLVER.MAX_ITER' expects a int"):
        cfg.merge_from_list(["SOLVER.MAX_ITER", "1.5"])
    with pytest.raises(ConfigError, match="'MODEL.MASK_FORMER.TEST.PANOPTIC_ON' expects a bool"):
        cfg.merge_from_list(["MODEL.MASK_FORMER.TEST.PANOPTIC_ON", "1"])
    with pytest.raises(ConfigKeyError, match="did you mean 'MODEL.MASK_FORMER.NUM_OBJECT_QUERIES'"):
        cfg.merge_from_list(["MODEL.MASK_FORMER.NUM_OBJECT_QUERY", "50"])
    with pytest.raises(ConfigError, match="odd length"):
        cfg.merge_from_list(["SOLVER.BASE_LR"])
    with pytest.raises(ConfigError, match="'MODEL.SWIN' is a section"):
        cfg.merge_from_list(["MODEL.SWIN", "1"])
    with pytest.raises(ConfigError, match="only be used in config files"):
        cfg.merge_from_list(["_BASE_", "x.yaml"])


def test_frozen_config_refuses_merges(tmp_path):
    cfg = get_cfg()
    cfg.freeze()
    with pytest.raises(AttributeError, match="defrost"):
        cfg.merge_from_list(["SOLVER.BASE_LR", "1.0"])
    with pytest.raises(AttributeError, match="defrost"):
        cfg.merge_from_file(_write(tmp_path / "a.yaml", "SOLVER:\n  BASE_LR: 1.0\n"))
    cfg.defrost()
    cfg.merge_from_list(["SOLVER.BASE_LR", "1.0"])
    assert cfg.SOLVER.BASE_LR == 1.0


def test_merge_from_other_cfg_is_strict():
    cfg = get_cfg()
    cfg.merge_from_other_cfg(CfgNode({"SOLVER": {"BASE_LR": 0.25}}))
    assert cfg.SOLVER.BASE_LR == 0.25
    with pytest.raises(ConfigKeyError):
        cfg.merge_from_other_cfg(CfgNode({"SOLVER": {"BASE_LRX": 0.25}}))


def test_dump_round_trip(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.MASK_FORMER.MASK_LOSS", "sigmoid_focal", "INPUT.CROP.SIZE", "[1, 2]"])
    path = _write(tmp_path / "dumped.yaml", cfg.dump())
    again = get_cfg()
    again.merge_from_file(path)
    assert again == cfg
    assert yaml.safe_load(cfg.dump())["MODEL"]["MASK_FORMER"]["MASK_LOSS"] == "sigmoid_focal"


def test_no_effect_keys_logged_once_when_changed(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(compat, "_logged", set())
    default = _write(tmp_path / "d.yaml", "MODEL:\n  RPN:\n    NMS_THRESH: 0.7\n")
    changed = _write(tmp_path / "c.yaml", "MODEL:\n  RPN:\n    NMS_THRESH: 0.5\nGLOBAL:\n  HACK: 2.0\n")
    with caplog.at_level(logging.WARNING, logger="maskformer.config.compat"):
        get_cfg().merge_from_file(default)
        assert not caplog.records
        get_cfg().merge_from_file(changed)
        get_cfg().merge_from_file(changed)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("MODEL.RPN.NMS_THRESH" in m for m in messages) == 1
    assert sum("GLOBAL.HACK" in m for m in messages) == 1
    assert all("no effect" in m for m in messages)


def test_no_effect_reason_by_prefix():
    assert compat.no_effect_reason("MODEL.ROI_HEADS.NUM_CLASSES") is not None
    assert compat.no_effect_reason("MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS") is not None
    assert compat.no_effect_reason("MODEL.SEM_SEG_HEAD.NUM_CLASSES") is None
    assert compat.no_effect_reason("MODEL.RPNX") is None
    keys = _all_leaf_keys(get_cfg())
    for entry in compat.NO_EFFECT_KEYS:
        assert any(k == entry or k.startswith(entry + ".") for k in keys), entry


def _all_leaf_keys(node, prefix=""):
    keys = []
    for key, value in node.items():
        if isinstance(value, CfgNode):
            keys.extend(_all_leaf_keys(value, prefix + key + "."))
        else:
            keys.append(prefix + key)
    return keys


MASKFORMER_ERA = """\
MODEL:
  META_ARCHITECTURE: "MaskFormer"
  MASK_FORMER:
    TRANSFORMER_IN_FEATURE: "res5"
"""


def test_maskformer_era_detection(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_file(_write(tmp_path / "mf.yaml", MASKFORMER_ERA))
    assert cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME == "StandardTransformerDecoder"
    assert cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS == 0
    assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_focal"


def test_maskformer_era_respects_explicit_keys(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_file(_write(tmp_path / "a.yaml", MASKFORMER_ERA + "    MASK_LOSS: sigmoid_ce\n"))
    assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_ce"
    assert cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME == "StandardTransformerDecoder"
    # Naming a decoder, or feeding the multi-scale decoder, means the file knows Mask2Former's keys.
    for extra in ['    TRANSFORMER_DECODER_NAME: "StandardTransformerDecoder"\n', ""]:
        text = MASKFORMER_ERA + extra
        if not extra:
            text = text.replace('"res5"', '"multi_scale_pixel_decoder"')
        cfg = get_cfg()
        cfg.merge_from_file(_write(tmp_path / "b.yaml", text))
        assert cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS == 112 * 112
        assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_ce"
    cfg = get_cfg()
    cfg.merge_from_file(_write(tmp_path / "c.yaml", "MODEL:\n  META_ARCHITECTURE: SemanticSegmentor\n"))
    assert cfg.MODEL.MASK_FORMER.MASK_LOSS == "sigmoid_ce"
