"""Keys accepted for compatibility, and the reading of MaskFormer-era YAML files.

1. ``NO_EFFECT_KEYS`` is the one list of keys (or whole sections) that exist only so that official
   Mask2Former / MaskFormer / Detectron2 YAML files load unchanged. Nothing in this code base reads
   them. :func:`add_compat_config` adds them to the default tree (``defaults.py`` holds the live
   keys only), with Detectron2's defaults, as Detectron2's ``add_deeplab_config`` adds DeepLab's
   keys. When a file or a command-line override sets one of them to a non-default value, this is
   logged once per key and process.
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
    "add_compat_config",
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
    "MODEL.RESNETS.DEFORM_MODULATED": "deformable convolutions are not implemented (DEFORM_ON_PER_STAGE)",
    "MODEL.RESNETS.DEFORM_NUM_GROUPS": "deformable convolutions are not implemented (DEFORM_ON_PER_STAGE)",
    "INPUT.MASK_FORMAT": "the mappers rasterise polygons and RLE alike, whichever an annotation holds",
    "VERSION": "Detectron2's config format version; there is one format here",
    "VIS_PERIOD": "Detectron2's training-batch visualisation; tools/visualize_data.py draws batches",
    "FLOAT32_PRECISION": "Detectron2's torch.set_float32_matmul_precision switch; not applied here",
    "GLOBAL.HACK": "Detectron2's scratch value for quick hacks",
}


def _section(cfg: Any, path: str) -> Any:
    """The config node at dotted ``path``, created (with the config's own node class) if missing."""
    node = cfg
    for part in path.split("."):
        if part not in node:
            node[part] = type(cfg)()
        node = node[part]
    return node


def _add_detectron2_keys(cfg: Any) -> None:
    """Detectron2's top-level, dataset, input and backbone keys that change nothing here."""
    # Config format version.
    cfg.VERSION = 2
    # Visualise training batches every this many iterations (0: never).
    cfg.VIS_PERIOD = 0
    # torch.set_float32_matmul_precision ("" leaves the PyTorch default).
    cfg.FLOAT32_PRECISION = ""
    # Scratch value for quick hacks.
    _section(cfg, "GLOBAL").HACK = 1.0
    model = _section(cfg, "MODEL")
    # Load precomputed proposals with the dataset.
    model.LOAD_PROPOSALS = False
    # R-CNN mask / keypoint head switches.
    model.MASK_ON = False
    model.KEYPOINT_ON = False
    # Modulated deformable convolutions (v2) and their groups.
    resnets = _section(cfg, "MODEL.RESNETS")
    resnets.DEFORM_MODULATED = False
    resnets.DEFORM_NUM_GROUPS = 1
    # Instance mask format of the annotations: "polygon" or "bitmask".
    _section(cfg, "INPUT").MASK_FORMAT = "polygon"
    datasets = _section(cfg, "DATASETS")
    # Precomputed proposal files and how many proposals to keep.
    datasets.PROPOSAL_FILES_TRAIN = []
    datasets.PRECOMPUTED_PROPOSAL_TOPK_TRAIN = 2000
    datasets.PROPOSAL_FILES_TEST = []
    datasets.PRECOMPUTED_PROPOSAL_TOPK_TEST = 1000
    # Keypoint OKS sigmas of the keypoint evaluation.
    _section(cfg, "TEST").KEYPOINT_OKS_SIGMAS = []
    fpn = _section(cfg, "MODEL.FPN")
    # Input features, output channels, normalisation ("" or "GN") and fusion ("sum" or "avg") of
    # Detectron2's FPN backbone.
    fpn.IN_FEATURES = []
    fpn.OUT_CHANNELS = 256
    fpn.NORM = ""
    fpn.FUSE_TYPE = "sum"


def _add_head_option_keys(cfg: Any) -> None:
    """DeepLab head options and MaskFormer / Mask2Former keys that the official code never read."""
    head = _section(cfg, "MODEL.SEM_SEG_HEAD")
    # DeepLab head (add_deeplab_config): loss, projected features and channels, ASPP, separable convs.
    head.LOSS_TYPE = "hard_pixel_mining"
    head.PROJECT_FEATURES = ["res2"]
    head.PROJECT_CHANNELS = [48]
    head.ASPP_CHANNELS = 256
    head.ASPP_DILATIONS = [6, 12, 18]
    head.ASPP_DROPOUT = 0.1
    head.USE_DEPTHWISE_SEPARABLE_CONV = False
    # Read by nothing in the official code (8 heads, 4 points are hard-coded).
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 4
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 8
    # Early MaskFormer releases' semantic inference switch; only "probabilistic" exists.
    _section(cfg, "MODEL.MASK_FORMER.TEST").SEMANTIC_INFERENCE_METHOD = "probabilistic"


def _add_proposal_keys(cfg: Any) -> None:
    """Detectron2's proposal generator, anchors and RPN."""
    generator = _section(cfg, "MODEL.PROPOSAL_GENERATOR")
    # Proposal generator name ("RPN", "RRPN", "PrecomputedProposals") and minimum proposal side.
    generator.NAME = "RPN"
    generator.MIN_SIZE = 0
    anchors = _section(cfg, "MODEL.ANCHOR_GENERATOR")
    # Anchor generator name; sizes, aspect ratios (H/W) and angles (degrees) per feature map; offset
    # of the first anchor centre in units of the stride.
    anchors.NAME = "DefaultAnchorGenerator"
    anchors.SIZES = [[32, 64, 128, 256, 512]]
    anchors.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
    anchors.ANGLES = [[-90, 0, 90]]
    anchors.OFFSET = 0.0
    rpn = _section(cfg, "MODEL.RPN")
    # Head name, input features, anchors pruned outside the image by this many pixels (-1: keep).
    rpn.HEAD_NAME = "StandardRPNHead"
    rpn.IN_FEATURES = ["res4"]
    rpn.BOUNDARY_THRESH = -1
    # Anchor matching: IoU thresholds and labels; anchors sampled per image, positive fraction.
    rpn.IOU_THRESHOLDS = [0.3, 0.7]
    rpn.IOU_LABELS = [0, -1, 1]
    rpn.BATCH_SIZE_PER_IMAGE = 256
    rpn.POSITIVE_FRACTION = 0.5
    # Box regression loss ("smooth_l1", "giou"), its weight, target weights, beta; loss weight.
    rpn.BBOX_REG_LOSS_TYPE = "smooth_l1"
    rpn.BBOX_REG_LOSS_WEIGHT = 1.0
    rpn.BBOX_REG_WEIGHTS = [1.0, 1.0, 1.0, 1.0]
    rpn.SMOOTH_L1_BETA = 0.0
    rpn.LOSS_WEIGHT = 1.0
    # Proposals kept before / after NMS in training and test; NMS threshold; head conv widths.
    rpn.PRE_NMS_TOPK_TRAIN = 12000
    rpn.PRE_NMS_TOPK_TEST = 6000
    rpn.POST_NMS_TOPK_TRAIN = 2000
    rpn.POST_NMS_TOPK_TEST = 1000
    rpn.NMS_THRESH = 0.7
    rpn.CONV_DIMS = [-1]


def _add_roi_box_keys(cfg: Any) -> None:
    """Detectron2's ROI heads and their box heads."""
    roi = _section(cfg, "MODEL.ROI_HEADS")
    # Name, foreground classes, input features.
    roi.NAME = "Res5ROIHeads"
    roi.NUM_CLASSES = 80
    roi.IN_FEATURES = ["res4"]
    # Proposal matching: IoU thresholds and labels; ROIs sampled per image, positive fraction.
    roi.IOU_THRESHOLDS = [0.5]
    roi.IOU_LABELS = [0, 1]
    roi.BATCH_SIZE_PER_IMAGE = 512
    roi.POSITIVE_FRACTION = 0.25
    # Test-time score and NMS thresholds; ground-truth boxes added to the proposals in training.
    roi.SCORE_THRESH_TEST = 0.05
    roi.NMS_THRESH_TEST = 0.5
    roi.PROPOSAL_APPEND_GT = True
    box = _section(cfg, "MODEL.ROI_BOX_HEAD")
    # Name; box regression loss type, weight, target weights and beta.
    box.NAME = ""
    box.BBOX_REG_LOSS_TYPE = "smooth_l1"
    box.BBOX_REG_LOSS_WEIGHT = 1.0
    box.BBOX_REG_WEIGHTS = [10.0, 10.0, 5.0, 5.0]
    box.SMOOTH_L1_BETA = 0.0
    # ROI pooler resolution, sampling ratio and type.
    box.POOLER_RESOLUTION = 14
    box.POOLER_SAMPLING_RATIO = 0
    box.POOLER_TYPE = "ROIAlignV2"
    # FC layers and width, conv layers and width, normalisation.
    box.NUM_FC = 0
    box.FC_DIM = 1024
    box.NUM_CONV = 0
    box.CONV_DIM = 256
    box.NORM = ""
    # Class-agnostic regression; training on predicted boxes; federated loss and sigmoid CE options.
    box.CLS_AGNOSTIC_BBOX_REG = False
    box.TRAIN_ON_PRED_BOXES = False
    box.USE_FED_LOSS = False
    box.USE_SIGMOID_CE = False
    box.FED_LOSS_FREQ_WEIGHT_POWER = 0.5
    box.FED_LOSS_NUM_CLASSES = 50
    cascade = _section(cfg, "MODEL.ROI_BOX_CASCADE_HEAD")
    # Box regression target weights and IoU thresholds of the cascade stages.
    cascade.BBOX_REG_WEIGHTS = [[10.0, 10.0, 5.0, 5.0], [20.0, 20.0, 10.0, 10.0], [30.0, 30.0, 15.0, 15.0]]
    cascade.IOUS = [0.5, 0.6, 0.7]


def _add_roi_mask_keypoint_keys(cfg: Any) -> None:
    """Detectron2's ROI mask and keypoint heads."""
    mask = _section(cfg, "MODEL.ROI_MASK_HEAD")
    # Name; ROI pooler resolution, sampling ratio and type; convs, their width and normalisation;
    # class-agnostic masks.
    mask.NAME = "MaskRCNNConvUpsampleHead"
    mask.POOLER_RESOLUTION = 14
    mask.POOLER_SAMPLING_RATIO = 0
    mask.POOLER_TYPE = "ROIAlignV2"
    mask.NUM_CONV = 0
    mask.CONV_DIM = 256
    mask.NORM = ""
    mask.CLS_AGNOSTIC_MASK = False
    keypoint = _section(cfg, "MODEL.ROI_KEYPOINT_HEAD")
    # Name; ROI pooler resolution, sampling ratio and type; conv widths.
    keypoint.NAME = "KRCNNConvDeconvUpsampleHead"
    keypoint.POOLER_RESOLUTION = 14
    keypoint.POOLER_SAMPLING_RATIO = 0
    keypoint.POOLER_TYPE = "ROIAlignV2"
    keypoint.CONV_DIMS = [512] * 8
    # Keypoints (17 for COCO); images with fewer visible keypoints are dropped from training; loss
    # normalised by the visible keypoints; loss weight.
    keypoint.NUM_KEYPOINTS = 17
    keypoint.MIN_KEYPOINTS_PER_IMAGE = 1
    keypoint.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS = True
    keypoint.LOSS_WEIGHT = 1.0


def _add_one_stage_and_panoptic_fpn_keys(cfg: Any) -> None:
    """Detectron2's Panoptic FPN and RetinaNet."""
    panoptic = _section(cfg, "MODEL.PANOPTIC_FPN")
    # Weight of the instance losses.
    panoptic.INSTANCE_LOSS_WEIGHT = 1.0
    combine = _section(cfg, "MODEL.PANOPTIC_FPN.COMBINE")
    # Heuristic combination of instance and semantic outputs.
    combine.ENABLED = True
    combine.OVERLAP_THRESH = 0.5
    combine.STUFF_AREA_LIMIT = 4096
    combine.INSTANCES_CONFIDENCE_THRESH = 0.5
    retina = _section(cfg, "MODEL.RETINANET")
    # Foreground classes, input features, convs in the classification and box towers.
    retina.NUM_CLASSES = 80
    retina.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]
    retina.NUM_CONVS = 4
    # Anchor matching IoU thresholds and labels; prior probability of foreground (classifier bias).
    retina.IOU_THRESHOLDS = [0.4, 0.5]
    retina.IOU_LABELS = [0, -1, 1]
    retina.PRIOR_PROB = 0.01
    # Test-time score threshold, top-k before NMS, NMS threshold.
    retina.SCORE_THRESH_TEST = 0.05
    retina.TOPK_CANDIDATES_TEST = 1000
    retina.NMS_THRESH_TEST = 0.5
    # Box regression target weights; focal loss (MaskFormer's mask focal loss uses
    # MODEL.MASK_FORMER.FOCAL_*); box regression loss beta and type; tower normalisation.
    retina.BBOX_REG_WEIGHTS = [1.0, 1.0, 1.0, 1.0]
    retina.FOCAL_LOSS_GAMMA = 2.0
    retina.FOCAL_LOSS_ALPHA = 0.25
    retina.SMOOTH_L1_LOSS_BETA = 0.1
    retina.BBOX_REG_LOSS_TYPE = "smooth_l1"
    retina.NORM = ""


def add_compat_config(cfg: Any) -> None:
    """Adds every key of :data:`NO_EFFECT_KEYS` to ``cfg`` with its Detectron2 / official default.

    Sections that ``cfg`` lacks are created, so the function also works on an empty node (which is
    how the tests list the compatibility keys).

    Args:
        cfg: a mutable ``CfgNode``, normally the default tree being built in ``defaults.py``.
    """
    _add_detectron2_keys(cfg)
    _add_head_option_keys(cfg)
    _add_proposal_keys(cfg)
    _add_roi_box_keys(cfg)
    _add_roi_mask_keypoint_keys(cfg)
    _add_one_stage_and_panoptic_fpn_keys(cfg)

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
