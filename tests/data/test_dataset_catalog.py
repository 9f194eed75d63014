import pytest

from maskformer.data.catalog import Metadata, _DatasetCatalog, _MetadataCatalog


def test_register_get_and_list():
    catalog = _DatasetCatalog()
    catalog.register("a", lambda: [{"file_name": "x"}])
    assert catalog.get("a") == [{"file_name": "x"}]
    assert catalog.list() == ["a"] and "a" in catalog


def test_duplicate_and_unknown_names_are_clear_errors():
    catalog = _DatasetCatalog()
    catalog.register("coco_2017_val", list)
    with pytest.raises(ValueError, match="already registered"):
        catalog.register("coco_2017_val", list)
    with pytest.raises(KeyError, match="Did you mean.*coco_2017_val"):
        catalog.get("coco_2017_vall")
    with pytest.raises(TypeError):
        catalog.register("b", [1, 2])


def test_metadata_set_once_and_missing_key_message():
    meta = _MetadataCatalog().get("d")
    meta.set(thing_classes=["a"], ignore_label=255)
    meta.ignore_label = 255  # same value: fine
    with pytest.raises(ValueError, match="refusing to change"):
        meta.ignore_label = 0
    with pytest.raises(AttributeError, match="has no attribute 'evaluator_type'"):
        _ = meta.evaluator_type
    assert meta.get("evaluator_type", "none") == "none"
    assert isinstance(meta, Metadata) and meta.as_dict()["thing_classes"] == ["a"]


def test_import_registers_nothing():
    import subprocess
    import sys

    code = "import maskformer.data as d; print(len(d.DatasetCatalog.list()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
