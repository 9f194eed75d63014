"""Official-format model-zoo pickles with the official names and shapes load into our models completely."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from maskformer.checkpoint.convert import align_state_dict_with_report
from maskformer.checkpoint.formats import load_checkpoint_file
from maskformer.config import get_cfg
from maskformer.data import register_builtin_datasets
from maskformer.modeling import build_model
from maskformer.utils.analysis import skip_weight_init
from tests.helpers.official_models import read_keys
from tests.helpers.paths import CONFIGS, REFERENCE

# keys_<model>.txt -> the official config whose model produced those names (see the reference README).
KEY_FILE_CONFIGS = {
    "keys_m2f_R50_coco_panoptic.txt": "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "keys_m2f_R50_coco_instance.txt": "coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "keys_m2f_R50_ade20k_semantic.txt": "ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml",
    "keys_m2f_swinT_coco_panoptic.txt": (
        "coco/panoptic-segmentation/swin/maskformer2_swin_tiny_bs16_50ep.yaml"
    ),
    "keys_mf_R50_ade20k_semantic.txt": "maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml",
    "keys_mf_R50_coco_panoptic.txt": "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml",
}


# The models take their thing classes from the metadata of the configs' datasets (no files needed).
register_builtin_datasets()

def write_official_pkl(shapes: dict[str, tuple[int, ...]], path: Path) -> dict[str, np.ndarray]:
    """A Detectron2 model-zoo style file: {"model": numpy arrays, "__author__", "matching_heuristics"}."""
    # A distinct constant per tensor (cheaper than random draws, and any two swapped names differ).
    weights = {
        # Swin's relative_position_index is an int64 buffer in official files too.
        name: np.full(shape, i, dtype=np.int64 if name.endswith("_index") else np.float32)
        for i, (name, shape) in enumerate(shapes.items())
    }
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "Detectron2 Model Zoo", "matching_heuristics": False}, f)
    return weights


@pytest.mark.parametrize("key_file", sorted(KEY_FILE_CONFIGS))
def test_official_pkl_loads_without_missing_or_unexpected(tmp_path, key_file):
    if not (REFERENCE / key_file).exists():
        pytest.skip("reference key lists not available")
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / KEY_FILE_CONFIGS[key_file]))
    cfg.MODEL.DEVICE = "cpu"
    with skip_weight_init():  # every value is overwritten by the checkpoint below
        model = build_model(cfg)
    shapes = read_keys(REFERENCE / key_file)
    weights = write_official_pkl(shapes, tmp_path / "model_final.pkl")

    data = load_checkpoint_file(str(tmp_path / "model_final.pkl"))
    assert data["__author__"] == "Detectron2 Model Zoo"
    aligned, report = align_state_dict_with_report(data["model"], model)
    assert report.is_complete and not report.dropped, report.format()
    result = model.load_state_dict(aligned, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    state = model.state_dict()
    for name in shapes:
        assert state[name].flatten()[0].item() == weights[name].flat[0], name
