"""Predictor: the same results as evaluation's data loader path, for every input kind and batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from maskformer.data import MetadataCatalog, build_test_loader
from maskformer.engine import Predictor
from maskformer.engine.predictor import load_image
from tests.helpers.tiny_m2f_shapes import SPEC, register_tiny_shapes, save_tiny_weights, tiny_cfg


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.pth")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    """A registered 3-image val split of a tiny generated shapes dataset; returns its name."""
    return register_tiny_shapes(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def predictor(weights) -> Predictor:
    return Predictor(tiny_cfg(weights))


def assert_same_results(a: dict, b: dict, atol: float = 0.0) -> None:
    """Equality of two result dicts: bit for bit, or scores within ``atol`` and everything discrete equal."""
    assert set(a) == set(b) == {"sem_seg", "panoptic_seg", "instances"}
    torch.testing.assert_close(a["sem_seg"], b["sem_seg"], atol=atol, rtol=0)
    assert torch.equal(a["panoptic_seg"][0], b["panoptic_seg"][0])
    assert a["panoptic_seg"][1] == b["panoptic_seg"][1]
    fields_a, fields_b = a["instances"].get_fields(), b["instances"].get_fields()
    assert fields_a.keys() == fields_b.keys() == {"pred_masks", "scores", "pred_classes", "pred_boxes"}
    for key in ("pred_masks", "pred_classes", "pred_boxes"):
        assert torch.equal(fields_a[key], fields_b[key]), key
    torch.testing.assert_close(fields_a["scores"], fields_b["scores"], atol=atol, rtol=0)


def test_predictor_equals_the_model_on_the_test_loader(predictor, dataset):
    cfg = tiny_cfg()
    cfg.DATASETS.TEST = (dataset,)
    count = 0
    for inputs in build_test_loader(cfg, dataset):
        with torch.no_grad():
            expected = predictor.model(inputs)[0]
        result = predictor(inputs[0]["file_name"])
        assert_same_results(result, expected)
        assert result["sem_seg"].shape[1:] == (SPEC.image_size, SPEC.image_size)
        assert len(result["panoptic_seg"][1]) > 0 and len(result["instances"]) > 0  # not vacuous
        count += 1
    assert count == SPEC.num_val


def test_weights_are_loaded_and_the_model_is_in_eval_mode(predictor, weights):
    saved = torch.load(weights)["model"]
    state = predictor.model.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    assert not predictor.model.training and predictor.classes.names[0] == "circle"
    assert predictor.classes.thing_ids == (0, 1, 2, 3)


def _photos() -> list[np.ndarray]:
    """Three RGB arrays: two of one size, one of another (different resized sizes, so two groups)."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in ((40, 60, 3), (48, 32, 3), (40, 60, 3))]


def test_batch_equals_single_calls(predictor):
    photos = _photos()
    singles = [predictor(photo) for photo in photos]
    for single, batched in zip(singles, predictor.predict_batch(photos, batch_size=1)):
        assert_same_results(batched, single)
    for batch_size in (2, 3):
        # oneDNN picks convolution kernels by batch size: scores differ in the last float bits
        # (measured max 8e-7), segments, masks, classes and boxes are identical.
        for single, batched in zip(singles, predictor.predict_batch(photos, batch_size=batch_size)):
            assert_same_results(batched, single, atol=1e-5)
    assert singles[0]["sem_seg"].shape[1:] == (40, 60) and singles[1]["sem_seg"].shape[1:] == (48, 32)


def test_arrays_pil_images_and_paths_give_the_same_result(predictor, tmp_path):
    rgb = _photos()[1]
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    expected = predictor(rgb)  # INPUT.FORMAT is RGB
    for same in (
        predictor(str(path)),
        predictor(path),
        predictor(Image.open(path)),
        predictor(Image.fromarray(rgb).convert("RGBA")),  # alpha dropped
        predictor(rgb, format="RGB"),
        predictor(np.ascontiguousarray(rgb[:, :, ::-1]), format="BGR"),
    ):
        assert_same_results(same, expected)
    swapped = predictor(np.ascontiguousarray(rgb[:, :, ::-1]))  # BGR array taken as RGB: different
    assert not torch.equal(swapped["sem_seg"], expected["sem_seg"])


def test_a_bgr_model_receives_bgr_images(predictor, weights, tmp_path):
    rgb = _photos()[1]
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    bgr_model = Predictor(tiny_cfg(weights, ["INPUT.FORMAT", "BGR"]))
    expected = predictor.model_input(rgb)["image"].flip(0)  # [3, H, W]: channels reversed
    for image, fmt in (
        (rgb, "RGB"),
        (np.ascontiguousarray(rgb[:, :, ::-1]), None),
        (tmp_path / "photo.png", None),
    ):
        assert torch.equal(bgr_model.model_input(image, fmt)["image"], expected)


def test_load_image_channel_orders_and_errors():
    rgb = _photos()[1]
    assert np.array_equal(load_image(rgb, "BGR", "RGB"), rgb[:, :, ::-1])
    assert np.array_equal(load_image(rgb, "BGR"), rgb)  # arrays default to the model's format
    assert np.array_equal(load_image(Image.fromarray(rgb), "BGR"), rgb[:, :, ::-1])
    assert load_image(rgb[:, :, 0], "RGB").shape == (48, 32, 3)
    with pytest.raises(ValueError, match="uint8 image array"):
        load_image(rgb.astype(np.float32), "RGB")
    with pytest.raises(ValueError, match="'RGB' or 'BGR'"):
        load_image(rgb, "RGB", "HSV")
    with pytest.raises(TypeError, match="PIL image or a numpy array"):
        load_image([1, 2], "RGB")


def test_classes_without_a_registered_dataset(weights):
    cfg = tiny_cfg(weights, ["DATASETS.TEST", "('nowhere_val',)", "DATASETS.TRAIN", "()"])
    with pytest.raises(ValueError, match="no class names.*class_names=") as info:
        Predictor(cfg)
    assert "nowhere_val" in str(info.value)
    names = [f"c{i}" for i in range(8)]
    with pytest.raises(ValueError, match="3 class names for MODEL.SEM_SEG_HEAD.NUM_CLASSES = 8"):
        Predictor(cfg, class_names=names[:3], thing_ids=[0])
    with pytest.raises(ValueError, match="PANOPTIC_ON\\) needs the thing classes"):
        Predictor(cfg, class_names=names)
    with pytest.raises(ValueError, match="without class_names"):
        Predictor(cfg, thing_ids=[0])
    predictor = Predictor(cfg, class_names=names, thing_ids=[1, 0])
    assert predictor.classes.thing_ids == (0, 1) and predictor.model.thing_ids == [0, 1]
    assert len(set(predictor.classes.colors)) == 8
    assert not MetadataCatalog.get("nowhere_val").get("stuff_classes")


def test_a_network_backend_plugs_in(predictor, weights):
    """What an exported model must provide: normalised padded images -> (pred_logits, pred_masks)."""
    model = predictor.model

    def network(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = model.sem_seg_head(model.backbone(images))
        return outputs["pred_logits"], outputs["pred_masks"]

    other = Predictor(tiny_cfg(weights), network=network)
    assert other.network is network
    for photo in _photos()[:2]:
        assert_same_results(other(photo), predictor(photo))
