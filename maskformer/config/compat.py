"""Keys accepted for compatibility, and the reading of MaskFormer-era YAML files.

1. ``NO_EFFECT_KEYS`` is the one list of keys (or whole sections) that exist only so that official
   Mask2Former / MaskFormer / Detectron2 YAML files load unchanged. Nothing in this code base reads
   them. When a file sets one of them to a non-default value, this is logged once per key.
2. The MaskFormer repository's YAML files predate Mask2Former's keys (``TRANSFORMER_DECODER_NAME``,
   ``TRAIN_NUM_POINTS``, and this project's ``MASK_LOSS``); that repository always used the standard
   DETR decoder and focal + dice losses on full masks. :func:`maskformer_era_overrides` recognises
   such a file and supplies those values (see configs/README.md).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "MASKFORMER_ERA_VALUES",
    "NO_EFFECT_KEYS",
    "maskformer_era_overrides",
    "no_effect_reason",
    "warn_no_effect",
]

logger = logging.getLogger(__name__)

_RCNN = "Detectron2 R-CNN / RetinaNet / Panoptic-FPN option; no such model here"
_DEEPLAB = "DeepLab head option (add_deeplab_config); no DeepLab head here"

# Full key or section prefix -> why it has no effect.
NO_EFFECT_KEYS: dict[str, str] = {
    "MODEL.LOAD_PROPOSALS": _RCNN,
    "MODEL.MASK_ON": _RCNN,
    "MODEL.KEYPOINT_ON": _RCNN,
    "MODEL.FPN": "Detectron2 FPN backbone; the pixel decoders are configured by MODEL.SEM_SEG_HEAD",
    "MODEL.PROPOSAL_GENERATOR": _RCNN,
    "MODEL.ANCHOR_GENERATOR": _RCNN,
    "MODEL.RPN": _RCNN,
    "MODEL.ROI_HEADS": _RCNN,
    "MODEL.ROI_BOX_HEAD": _RCNN,
    "MODEL.ROI_BOX_CASCADE_HEAD": _RCNN,
    "MODEL.ROI_MASK_HEAD": _RCNN,
    "MODEL.ROI_KEYPOINT_HEAD": _RCNN,
    "MODEL.PANOPTIC_FPN": _RCNN,
    "MODEL.RETINANET": _RCNN,
    "DATASETS.PROPOSAL_FILES_TRAIN": _RCNN,
    "DATASETS.PROPOSAL_FILES_TEST": _RCNN,
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN": _RCNN,
    "DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST": _RCNN,
    "TEST.KEYPOINT_OKS_SIGMAS": _RCNN,
    "MODEL.SEM_SEG_HEAD.LOSS_TYPE": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.PROJECT_FEATURES": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.PROJECT_CHANNELS": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.ASPP_CHANNELS": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.ASPP_DILATIONS": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.ASPP_DROPOUT": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.USE_DEPTHWISE_SEPARABLE_CONV": _DEEPLAB,
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS": (
        "read by nothing in the official code either: the deformable encoder uses 4 points"
    ),
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS": (
        "read by nothing in the official code either: the deformable encoder uses 8 heads"
    ),
    "MODEL.MASK_FORMER.TEST.SEMANTIC_INFERENCE_METHOD": (
        "early MaskFormer releases only; semantic inference here is always the probabilistic one"
    ),
    "GLOBAL.HACK": "Detectron2's scratch value for quick hacks",
}

# What the MaskFormer repository always did, written as the keys that select it here.
MASKFORMER_ERA_VALUES: dict[str, Any] = {
    "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME": "StandardTransformerDecoder",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS": 0,
    "MODEL.MASK_FORMER.MASK_LOSS": "sigmoid_focal",
}

_logged: set[str] = set()


def no_effect_reason(full_key: str) -> str | None:
    """Why ``full_key`` has no effect here, or None when it is a live key."""
    parts = full_key.split(".")
    for i in range(len(parts), 0, -1):
        reason = NO_EFFECT_KEYS.get(".".join(parts[:i]))
        if reason is not None:
            return reason
    return None


def warn_no_effect(full_key: str, value: Any, default: Any, source: str) -> None:
    """Logs (once per key per process) that a file set a no-effect key to a non-default value."""
    reason = no_effect_reason(full_key)
    if reason is None or value == default or full_key in _logged:
        return
    _logged.add(full_key)
    logger.warning("%s sets %s = %r, which has no effect here (%s).", source, full_key, value, reason)


def _get(tree: dict[str, Any], full_key: str) -> Any:
    node: Any = tree
    for part in full_key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def maskformer_era_overrides(loaded: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Values that make a MaskFormer-repository YAML behave as MaskFormer did.

    A loaded file chain is MaskFormer-era when it builds the "MaskFormer" meta-architecture, never
    names a transformer decoder, and feeds the decoder a single feature map
    (``TRANSFORMER_IN_FEATURE`` other than "multi_scale_pixel_decoder"): the multi-scale masked
    decoder cannot consume that, and the MaskFormer repository only had the standard decoder.

    Args:
        loaded: the nested dict of the whole ``_BASE_`` chain.
        current: the config being merged into (as nested dict), for keys the chain does not set.

    Returns:
        ``{full_key: value}`` for the keys of :data:`MASKFORMER_ERA_VALUES` the chain does not set;
        empty when the chain is not MaskFormer-era.
    """

    def value(key: str) -> Any:
        found = _get(loaded, key)
        return _get(current, key) if found is None else found

    if value("MODEL.META_ARCHITECTURE") != "MaskFormer":
        return {}
    if _get(loaded, "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME") is not None:
        return {}
    if value("MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE") == "multi_scale_pixel_decoder":
        return {}
    return {k: v for k, v in MASKFORMER_ERA_VALUES.items() if _get(loaded, k) is None}
