"""The official reference data the tests compare against lives inside the repository.

Tests that parametrise over these files would silently collect nothing if they went missing; this
test fails instead.
"""

from tests.helpers.paths import REFERENCE

MODELS = [
    "m2f_R50_ade20k_semantic",
    "m2f_R50_coco_instance",
    "m2f_R50_coco_panoptic",
    "m2f_swinT_coco_panoptic",
    "mf_R50_ade20k_semantic",
    "mf_R50_coco_panoptic",
]


def test_resolved_configs_and_key_lists_are_present():
    for model in MODELS:
        assert (REFERENCE / f"cfg_{model}.yaml").is_file(), model
        assert (REFERENCE / f"keys_{model}.txt").is_file(), model


def test_every_official_image_config_is_present():
    resolved = REFERENCE / "official_resolved"
    m2f = list((resolved / "mask2former").rglob("*.yaml"))
    mf = list((resolved / "maskformer").rglob("*.yaml"))
    assert (len(m2f), len(mf)) == (57, 36)
