"""The model's input and output contract, written once.

Every meta-architecture (``MODEL.META_ARCHITECTURE``, built by ``maskformer.modeling.build_model``)
is called as ``model(batched_inputs)`` with a list of :class:`ModelInput`, one per image, and
returns in training mode a :data:`LossDict`, in eval mode a list of :class:`SegmentationResult`,
one per input and in input order. Mappers (``maskformer.data.mappers``) and the ``Predictor``
make the inputs; the trainer sums the losses; evaluators, the visualiser and the exporters read
the results. ``H, W`` below is the size of the image the model sees, ``h, w`` the size of the
original image, ``K`` the number of classes (``MODEL.SEM_SEG_HEAD.NUM_CLASSES``).

**Model input** (one dict per image):

- ``image``: uint8 ``[3, H, W]``, channels in ``INPUT.FORMAT`` order, not normalised (the model
  subtracts ``MODEL.PIXEL_MEAN``, divides by ``MODEL.PIXEL_STD`` and pads the batch). Training
  mappers pad it at the bottom / right with 128 to a multiple of ``INPUT.SIZE_DIVISIBILITY`` when
  that is positive (the DETR panoptic mapper never pads).
- ``height``, ``width``: int, ``h`` and ``w``; results come back at this size.
- ``sem_seg`` (training, semantic targets): int64 ``[H, W]`` contiguous class ids, the ignore
  label (``MODEL.SEM_SEG_HEAD.IGNORE_VALUE``) for unlabelled and padded pixels.
- ``instances`` (training, mask targets): ``Instances((H, W))`` with ``gt_classes`` int64 ``[N]``
  (contiguous ids) and ``gt_masks`` bool ``[N, H, W]`` (False in the padding); ``N`` may be 0.
- the dataset dict's other fields pass through unchanged (``file_name``, ``image_id``,
  ``pan_seg_file_name``, ``segments_info``, ...); evaluators read them.

**Loss dict** (training): ``{name: float32 scalar tensor}``, each already multiplied by its
weight; the trainer backpropagates their sum. The mask-classification models give ``loss_ce``,
``loss_mask``, ``loss_dice`` (and ``loss_bbox``, ``loss_giou`` with
``MODEL.MASK_FORMER.BOX_HEAD``), and with deep supervision the same names suffixed ``_i`` for
auxiliary decoder layer ``i = 0 .. DEC_LAYERS - 2``. The per-pixel baselines give
``loss_sem_seg`` (and ``loss_sem_seg_i`` per auxiliary output).

**Result** (eval, one dict per input, at ``h x w``; the mask-classification models fill the keys
``MODEL.MASK_FORMER.TEST.{SEMANTIC_ON, PANOPTIC_ON, INSTANCE_ON}`` ask for, the per-pixel
baselines ``sem_seg`` only):

- ``sem_seg``: float32 ``[K, h, w]`` per-class scores, arg-max over ``K`` is the label map.
  Mask classification: ``sum_q softmax(class_q)[k] * sigmoid(mask_q)`` (not normalised over
  ``k``); per-pixel baselines: the logits.
- ``panoptic_seg``: ``(segments, segments_info)``, ``segments`` int32 ``[h, w]`` with the segment id
  of each pixel (0 = void, ids start at 1) and ``segments_info`` a list of :class:`PanopticSegment`.
- ``instances``: ``Instances((h, w))`` with ``pred_masks`` bool ``[N, h, w]``, ``scores`` float32
  ``[N]``, ``pred_classes`` int64 ``[N]`` (contiguous ids) and ``pred_boxes`` float32 ``[N, 4]``
  (XYXY pixels, the tight box of each mask).

The mask-classification models post-process in float32 also under ``TEST.AMP.ENABLED``.
"""

# No ``from __future__ import annotations``: TypedDict reads ``Required`` from evaluated annotations.
from typing import Required, TypedDict

from torch import Tensor

from maskformer.structures import Instances

__all__ = ["LossDict", "ModelInput", "PanopticSegment", "SegmentationResult"]


class ModelInput(TypedDict, total=False):
    """One image as the model takes it (see the module docstring for dtypes and shapes)."""

    image: Required[Tensor]
    height: Required[int]
    width: Required[int]
    sem_seg: Tensor
    instances: Instances
    file_name: str
    image_id: int | str


LossDict = dict[str, Tensor]
"""``{loss name: weighted float32 scalar}`` (see the module docstring for the names)."""


class PanopticSegment(TypedDict):
    """One segment of a panoptic result: its id in the segment map, its class, thing or stuff."""

    id: int
    category_id: int
    isthing: bool


class SegmentationResult(TypedDict, total=False):
    """The model's result for one image (see the module docstring for dtypes and shapes)."""

    sem_seg: Tensor
    panoptic_seg: tuple[Tensor, list[PanopticSegment]]
    instances: Instances
