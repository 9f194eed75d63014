"""Thing ids and classes from dataset metadata (maskformer.data.classes)."""

from maskformer.config import get_cfg
from maskformer.data import ClassInfo, MetadataCatalog, config_thing_ids, metadata_thing_ids
from maskformer.data.datasets.metadata import panoptic_metadata

_CATEGORIES = [
    {"id": 7, "name": "road", "isthing": 0},
    {"id": 3, "name": "car", "isthing": 1},
    {"id": 9, "name": "sky", "isthing": 0},
    {"id": 1, "name": "person", "isthing": 1},
]


def test_metadata_thing_ids_from_a_dict_and_from_metadata():
    meta = panoptic_metadata(_CATEGORIES)
    assert metadata_thing_ids(meta) == [1, 3]
    assert metadata_thing_ids({"thing_dataset_id_to_contiguous_id": {5: 2, 4: 0}}) == [0, 2]
    assert metadata_thing_ids({"stuff_classes": ["a"]}) is None
    assert metadata_thing_ids({"thing_dataset_id_to_contiguous_id": {}}) is None


def test_config_thing_ids_read_the_first_registered_dataset():
    name = "test_classes_panoptic_toy"
    MetadataCatalog.get(name).set(**panoptic_metadata(_CATEGORIES))
    try:
        cfg = get_cfg()
        cfg.DATASETS.TEST = ("not_registered_anywhere", name)
        assert config_thing_ids(cfg) == [1, 3]
        info = ClassInfo.from_metadata(MetadataCatalog.get(name))
        assert info.names == ("road", "car", "sky", "person") and info.thing_ids == (1, 3)
        cfg.DATASETS.TEST = ("not_registered_anywhere",)
        assert config_thing_ids(cfg) is None
    finally:
        MetadataCatalog.remove(name)
