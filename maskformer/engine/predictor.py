"""``Predictor``: a trained model applied to images in memory or on disk, one or many at a time.

::

    cfg = get_cfg()
    cfg.merge_from_file("configs/coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml")
    cfg.MODEL.WEIGHTS = "model_final.pth"
    register_builtin_datasets()          # class names and thing classes of DATASETS.TEST
    result = Predictor(cfg)("photo.jpg")  # {"sem_seg", "panoptic_seg", "instances"}

The image goes through the test mapper's own resize (``MapperBase.map_image``) and the model's
own normalisation, padding and post-processing, so a result equals what evaluation computes.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from maskformer.checkpoint import Checkpointer
from maskformer.config import CfgNode
from maskformer.data import ClassInfo, build_mapper, config_class_info
from maskformer.data.image_io import read_image
from maskformer.modeling import build_model
from maskformer.utils.analysis import skip_weight_init

from .amp import inference_autocast

__all__ = ["ImageInput", "Network", "Predictor", "load_image"]

logger = logging.getLogger(__name__)

ImageInput = np.ndarray | Image.Image | str | os.PathLike
# Normalised, padded images [B, 3, H, W] -> (pred_logits [B, Q, K+1], pred_masks [B, Q, H/4, W/4]).
Network = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def load_image(image: ImageInput, model_format: str, array_format: str | None = None) -> np.ndarray:
    """Any supported image input as ``[H, W, 3]`` uint8 in the model's channel order.

    Args:
        image: a path (read with EXIF orientation, as the data loader does), a PIL image (EXIF
            orientation applied alike), or an ``[H, W, 3]`` / ``[H, W]`` uint8 array.
        model_format: ``INPUT.FORMAT`` ("RGB" or "BGR").
        array_format: channel order of an array input; None means ``model_format``.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(os.fspath(image), model_format)
    if isinstance(image, Image.Image):
        array, array_format = np.asarray(ImageOps.exif_transpose(image).convert("RGB")), "RGB"
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f"Expected a path, a PIL image or a numpy array, got {type(image).__name__}.")
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(
            f"Expected a uint8 image array [H, W, 3] (or [H, W] grey), got {array.dtype} {array.shape}."
        )
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
    fmt = array_format or model_format
    if fmt not in ("RGB", "BGR"):
        raise ValueError(f"format must be 'RGB' or 'BGR', got {fmt!r}.")
    return np.ascontiguousarray(array if fmt == model_format else array[:, :, ::-1])


def _resolve_classes(
    cfg: CfgNode,
    class_names: Sequence[str] | None,
    thing_ids: Sequence[int] | None,
    colors: Sequence[Sequence[int]] | None,
) -> ClassInfo:
    """The classes given by hand, else those of the config's registered datasets; checked against K."""
    if class_names is not None:
        classes = ClassInfo.create(class_names, thing_ids, colors)
    elif thing_ids is not None or colors is not None:
        raise ValueError("Predictor: thing_ids / colors were given without class_names; pass all of them.")
    else:
        classes = config_class_info(cfg)
        if classes is None:
            raise ValueError(
                f"Predictor: no class names. None of DATASETS.TEST {list(cfg.DATASETS.TEST)} / "
                f"DATASETS.TRAIN {list(cfg.DATASETS.TRAIN)} is registered. Register them "
                "(register_builtin_datasets(), register_coco_panoptic / register_coco_instances / "
                "register_sem_seg, or DATASETS.REGISTER in the config) or pass "
                "Predictor(cfg, class_names=[...], thing_ids=[...])."
            )
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    if len(classes.names) != num_classes:
        raise ValueError(
            f"Predictor: {len(classes.names)} class names for MODEL.SEM_SEG_HEAD.NUM_CLASSES = {num_classes}."
        )
    return classes


class Predictor:
    """Builds the model from a config, loads ``MODEL.WEIGHTS`` and predicts in eval mode.

    Args:
        cfg: the config (cloned and frozen).
        class_names: contiguous id -> name; needed when no dataset of the config is registered.
        thing_ids: contiguous ids of the thing classes (with ``class_names``; panoptic models need them).
        colors: RGB colour per class (with ``class_names``; default: a generated palette).
        network: replaces the PyTorch network (backbone + head) with another backend of the same
            contract (:data:`Network`), e.g. an exported ONNX model run by onnxruntime; the model is
            then built without weights and only its pre- and post-processing run.

    Attributes:
        model: the model on ``MODEL.DEVICE``, in eval mode; with ``TEST.AMP.ENABLED`` it runs under
            autocast with ``SOLVER.AMP.PRECISION`` (post-processing stays float32).
        classes: names, thing ids and colours of the predicted classes.
        input_format: ``INPUT.FORMAT``, the channel order array inputs are assumed to have.
    """

    def __init__(
        self,
        cfg: CfgNode,
        *,
        class_names: Sequence[str] | None = None,
        thing_ids: Sequence[int] | None = None,
        colors: Sequence[Sequence[int]] | None = None,
        network: Network | None = None,
    ) -> None:
        self.cfg = cfg.clone()
        self.cfg.freeze()
        self.classes = _resolve_classes(self.cfg, class_names, thing_ids, colors)
        things = None if self.classes.thing_ids is None else list(self.classes.thing_ids)
        if network is None:
            self.model = build_model(self.cfg, thing_ids=things).eval()
            if not self.cfg.MODEL.WEIGHTS:
                logger.warning("MODEL.WEIGHTS is empty: the Predictor runs a randomly initialised model.")
            Checkpointer(self.model).load(self.cfg.MODEL.WEIGHTS, checkpointables=[])
        else:
            with skip_weight_init():  # the weights live in the other backend
                self.model = build_model(self.cfg, thing_ids=things).eval()
            if not hasattr(self.model, "postprocess"):
                raise TypeError(
                    f"network= needs a mask-classification model, not {type(self.model).__name__}."
                )
        self.network = network
        self.autocast = inference_autocast(self.cfg, self.model)  # checks the precision now
        self.mapper = build_mapper(self.cfg, is_train=False)
        self.input_format = self.cfg.INPUT.FORMAT
        self.batch_size = max(1, int(self.cfg.TEST.IMS_PER_BATCH))

    def model_input(self, image: ImageInput, format: str | None = None) -> dict:
        """The test mapper's output for one image: ``image`` uint8 ``[3, H', W']``, ``height``, ``width``."""
        array = load_image(image, self.input_format, format)
        return self.mapper.map_image({}, array)

    @torch.no_grad()
    def __call__(self, image: ImageInput, format: str | None = None) -> dict:
        """Predicts one image.

        Args:
            image: a path, a PIL image, or a uint8 ``[H, W, 3]`` array.
            format: channel order of an array ("RGB" / "BGR"); default ``INPUT.FORMAT``.

        Returns:
            The model's result dict at the image's original size: ``sem_seg`` ``[K, H, W]``,
            ``panoptic_seg`` (``[H, W]`` ids, segments info), ``instances``, as configured
            (dtypes and shapes: :mod:`maskformer.modeling.contract`).
        """
        return self._run([self.model_input(image, format)])[0]

    @torch.no_grad()
    def predict_batch(
        self, images: Sequence[ImageInput], format: str | None = None, batch_size: int | None = None
    ) -> list[dict]:
        """Predicts a list of images, ``batch_size`` (default ``TEST.IMS_PER_BATCH``) per forward pass.

        Images are batched only with images of the same resized size, so that the padding (which
        changes a network's output) is the one a single call uses: results equal ``__call__``'s,
        up to the last float bits of kernels that depend on the batch size (oneDNN convolutions).

        Returns:
            One result dict per image, in input order.
        """
        size = batch_size or self.batch_size
        inputs = [self.model_input(image, format) for image in images]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, item in enumerate(inputs):
            groups[tuple(item["image"].shape[-2:])].append(index)
        results: list[dict] = [{}] * len(inputs)
        for indices in groups.values():
            for start in range(0, len(indices), size):
                chunk = indices[start : start + size]
                for index, result in zip(chunk, self._run([inputs[i] for i in chunk])):
                    results[index] = result
        return results

    def _run(self, inputs: list[dict]) -> list[dict]:
        """The model on mapped inputs, with ``network`` in place of its backbone and head if given."""
        if self.network is None:
            with self.autocast:
                return self.model(inputs)
        images = self.model.preprocess_image(inputs)
        pred_logits, pred_masks = self.network(images.tensor)
        outputs = {"pred_logits": pred_logits.to(images.tensor), "pred_masks": pred_masks.to(images.tensor)}
        return self.model.postprocess(outputs, inputs, images)
