"""The one default config tree.

Values are Detectron2's defaults (``detectron2/config/defaults.py`` plus ``add_deeplab_config``), the
official Mask2Former code defaults (``add_maskformer2_config``; MaskFormer's ``add_mask_former_config``
is a subset with the same values) and this project's own keys, marked ``[project]``. The shipped
official YAMLs override many of these (e.g. loss weights 2/5/5 and ``DEC_LAYERS: 10``); the values
here are what a key holds when no file sets it.

Only live keys are written here. Keys kept only so that official YAML files load unchanged, without
any effect in this code base, are added at the end by ``compat.add_compat_config`` (next to their
list, ``compat.NO_EFFECT_KEYS``); setting one of them to a non-default value is logged.
"""

from .compat import add_compat_config
from .config import CfgNode

# Detectron2's short name for a config section.
CN = CfgNode

_C = CN()

# -----------------------------------------------------------------------------
# MODEL
# -----------------------------------------------------------------------------
_C.MODEL = CN()
# Device the model is built on: "cuda", "cpu", "mps", "cuda:1", ...
_C.MODEL.DEVICE = "cuda"
# Name in META_ARCH_REGISTRY: "MaskFormer" (both papers) or "SemanticSegmentor" (per-pixel baselines).
_C.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
# Checkpoint to initialise from: a path, or a detectron2:// / https:// URL (.pkl, .pth, .safetensors).
_C.MODEL.WEIGHTS = ""
# Per-channel normalisation of the input image, in INPUT.FORMAT channel order (0-255 scale).
_C.MODEL.PIXEL_MEAN = [103.530, 116.280, 123.675]
_C.MODEL.PIXEL_STD = [1.0, 1.0, 1.0]

# -----------------------------------------------------------------------------
# Backbone
# -----------------------------------------------------------------------------
_C.MODEL.BACKBONE = CN()
# Name in BACKBONE_REGISTRY: "build_resnet_backbone", "D2SwinTransformer", "TimmBackbone", ...
_C.MODEL.BACKBONE.NAME = "build_resnet_backbone"
# Freeze the stem (1) and the first stages (2..5) of a ResNet; 0 trains everything.
_C.MODEL.BACKBONE.FREEZE_AT = 2

# -----------------------------------------------------------------------------
# ResNet backbone (Detectron2 ResNet + DeepLab's add_deeplab_config)
# -----------------------------------------------------------------------------
_C.MODEL.RESNETS = CN()
# Depth: 18, 34, 50, 101 or 152.
_C.MODEL.RESNETS.DEPTH = 50
# Stages returned by the backbone.
_C.MODEL.RESNETS.OUT_FEATURES = ["res4"]
# Groups of the 3x3 convs: 1 is ResNet, > 1 ResNeXt.
_C.MODEL.RESNETS.NUM_GROUPS = 1
# Normalisation: "FrozenBN", "BN", "SyncBN", "GN".
_C.MODEL.RESNETS.NORM = "FrozenBN"
# Width of each group of the bottleneck.
_C.MODEL.RESNETS.WIDTH_PER_GROUP = 64
# Stride 2 on the 1x1 conv (MSRA ResNet) instead of the 3x3 conv (torchvision / C2 ResNet).
_C.MODEL.RESNETS.STRIDE_IN_1X1 = True
# Dilation of stage res5 (1 or 2).
_C.MODEL.RESNETS.RES5_DILATION = 1
# Output channels of res2 (64 for R18/R34) and of the stem.
_C.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
_C.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
# Deformable convolutions per stage res2..res5 (not implemented: True is refused).
_C.MODEL.RESNETS.DEFORM_ON_PER_STAGE = [False, False, False, False]
# Dilation of stage res4 (DeepLab option).
_C.MODEL.RESNETS.RES4_DILATION = 1
# Per-block dilation multipliers of res5 (DeepLab multi-grid).
_C.MODEL.RESNETS.RES5_MULTI_GRID = [1, 2, 4]
# Stem: "basic" (one 7x7 conv) or "deeplab" (three 3x3 convs, the "R101c" models).
_C.MODEL.RESNETS.STEM_TYPE = "deeplab"

# -----------------------------------------------------------------------------
# Swin Transformer backbone ("D2SwinTransformer")
# -----------------------------------------------------------------------------
_C.MODEL.SWIN = CN()
# Image size of the pretraining (sets the absolute position embedding size).
_C.MODEL.SWIN.PRETRAIN_IMG_SIZE = 224
# Patch size of the patch embedding.
_C.MODEL.SWIN.PATCH_SIZE = 4
# Channels of the first stage (96 T/S, 128 B, 192 L).
_C.MODEL.SWIN.EMBED_DIM = 96
# Blocks per stage.
_C.MODEL.SWIN.DEPTHS = [2, 2, 6, 2]
# Attention heads per stage.
_C.MODEL.SWIN.NUM_HEADS = [3, 6, 12, 24]
# Attention window size (7 for 224 pretraining, 12 for 384).
_C.MODEL.SWIN.WINDOW_SIZE = 7
# Hidden/embedding ratio of the MLPs.
_C.MODEL.SWIN.MLP_RATIO = 4.0
# Bias on the qkv projection.
_C.MODEL.SWIN.QKV_BIAS = True
# Override of the attention scale (None: head_dim ** -0.5).
_C.MODEL.SWIN.QK_SCALE = None
# Dropout, attention dropout and stochastic depth rates.
_C.MODEL.SWIN.DROP_RATE = 0.0
_C.MODEL.SWIN.ATTN_DROP_RATE = 0.0
_C.MODEL.SWIN.DROP_PATH_RATE = 0.3
# Absolute position embedding.
_C.MODEL.SWIN.APE = False
# LayerNorm after the patch embedding.
_C.MODEL.SWIN.PATCH_NORM = True
# Stages returned by the backbone.
_C.MODEL.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
# Gradient checkpointing of the blocks (saves memory, costs time).
_C.MODEL.SWIN.USE_CHECKPOINT = False

# -----------------------------------------------------------------------------
# [project] Any timm model as a backbone ("TimmBackbone")
# -----------------------------------------------------------------------------
_C.MODEL.TIMM = CN()
# timm model name, e.g. "resnet50" or "convnext_tiny".
_C.MODEL.TIMM.NAME = ""
# timm feature indices mapped to res2..res5.
_C.MODEL.TIMM.OUT_INDICES = [1, 2, 3, 4]
# Ask timm for pretrained weights (must be in the local cache: nothing is downloaded in tests).
_C.MODEL.TIMM.PRETRAINED = False

# -----------------------------------------------------------------------------
# Semantic segmentation head = the pixel decoder (+ the per-pixel baselines' classifier)
# -----------------------------------------------------------------------------
_C.MODEL.SEM_SEG_HEAD = CN()
# Head name: "MaskFormerHead", "PerPixelBaselineHead", "PerPixelBaselinePlusHead".
_C.MODEL.SEM_SEG_HEAD.NAME = "SemSegFPNHead"
# Backbone features read by the head.
_C.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["p2", "p3", "p4", "p5"]
# Label of ignored pixels in the semantic ground truth.
_C.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = 255
# Number of classes K (without the no-object class).
_C.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 54
# Channels of the pixel decoder convs.
_C.MODEL.SEM_SEG_HEAD.CONVS_DIM = 128
# Output stride of the pixel decoder's mask features.
_C.MODEL.SEM_SEG_HEAD.COMMON_STRIDE = 4
# Normalisation in the pixel decoder: "" or "GN".
_C.MODEL.SEM_SEG_HEAD.NORM = "GN"
# Weight of the per-pixel baselines' cross-entropy loss.
_C.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT = 1.0
# Channels of the per-pixel embeddings (mask features) that queries are multiplied with.
_C.MODEL.SEM_SEG_HEAD.MASK_DIM = 256
# Transformer encoder layers of "TransformerEncoderPixelDecoder" / of the MSDeformAttn encoder.
_C.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 0
# Pixel decoder name: "BasePixelDecoder" (FPN), "TransformerEncoderPixelDecoder",
# "MSDeformAttnPixelDecoder", or the Mask2Former Table 4e ablations "SemanticFPNPixelDecoder",
# "FaPNPixelDecoder", "BiFPNPixelDecoder".
_C.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "BasePixelDecoder"
# [project] Stacked BiFPN layers of "BiFPNPixelDecoder" (Mask2Former Table 4e ablation).
_C.MODEL.SEM_SEG_HEAD.BIFPN_NUM_LAYERS = 2
# Features fed to the MSDeformAttn encoder.
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = ["res3", "res4", "res5"]
# [project] Activation checkpointing of the MSDeformAttn encoder layers in training: only each
# layer's inputs are kept for the backward pass, which recomputes the rest. Same gradients; R50,
# 2 x 512x512 on CPU: peak training memory -26%, step time +15% (bench/README.md).
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_USE_CHECKPOINT = False

# -----------------------------------------------------------------------------
# Criterion (the losses of every meta-architecture)
# -----------------------------------------------------------------------------
_C.MODEL.CRITERION = CN()
# A name in CRITERION_REGISTRY; "" = the meta-architecture's default (PerPixelCrossEntropy for
# SemanticSegmentor, SetCriterion otherwise; see maskformer/criterion/build.py).
_C.MODEL.CRITERION.NAME = ""

# -----------------------------------------------------------------------------
# MaskFormer / Mask2Former
# -----------------------------------------------------------------------------
_C.MODEL.MASK_FORMER = CN()
# Loss on every intermediate decoder layer.
_C.MODEL.MASK_FORMER.DEEP_SUPERVISION = True
# Classification weight of the no-object class.
_C.MODEL.MASK_FORMER.NO_OBJECT_WEIGHT = 0.1
# Loss (and matching cost) weights: classification, mask (BCE or focal), dice.
_C.MODEL.MASK_FORMER.CLASS_WEIGHT = 1.0
_C.MODEL.MASK_FORMER.DICE_WEIGHT = 1.0
_C.MODEL.MASK_FORMER.MASK_WEIGHT = 20.0
# [project] Mask loss: "sigmoid_ce" (Mask2Former) or "sigmoid_focal" (MaskFormer).
_C.MODEL.MASK_FORMER.MASK_LOSS = "sigmoid_ce"
# [project] Focal loss alpha and gamma (used when MASK_LOSS is "sigmoid_focal").
_C.MODEL.MASK_FORMER.FOCAL_ALPHA = 0.25
_C.MODEL.MASK_FORMER.FOCAL_GAMMA = 2.0
# [project] Mask2Former Table 4 ablations, read by "MultiScaleMaskedTransformerDecoder" (defaults: the
# paper's model). How queries read the features (Table 4c): "masked", "standard" (no mask),
# "smca" (Gaussian prior at the predicted mask), "mask_pooling" (K-Net).
_C.MODEL.MASK_FORMER.CROSS_ATTENTION = "masked"
# [project] Levels each decoder layer attends to (Table 4d): "round_robin" (efficient multi-scale),
# "concat" (naive multi-scale: all three), "stride32", "stride16" or "stride8" (single scale).
_C.MODEL.MASK_FORMER.FEATURE_RESOLUTION = "round_robin"
# [project] Table 4b: learnable query features (False: zero-initialised, as DETR), cross-attention
# before self-attention, and the decoder's dropout (0.0, hard-coded in the official decoder;
# MODEL.MASK_FORMER.DROPOUT is MaskFormer's).
_C.MODEL.MASK_FORMER.LEARNABLE_QUERY_FEATURES = True
_C.MODEL.MASK_FORMER.CROSS_ATTENTION_FIRST = True
_C.MODEL.MASK_FORMER.DECODER_DROPOUT = 0.0
# [project] Mask2Former Table 5: with TRAIN_NUM_POINTS > 0, compute the matching costs and / or the
# mask losses on sampled points (True, Mask2Former) or on full masks (False, MaskFormer's way:
# predictions upsampled to the target size). TRAIN_NUM_POINTS 0 means full masks for both.
_C.MODEL.MASK_FORMER.MATCHING_ON_POINTS = True
_C.MODEL.MASK_FORMER.LOSS_ON_POINTS = True
# [project] Matcher: "HungarianMatcher", "FixedMatcher" (ablation: N = K, query i <-> class i) or
# "BoxHungarianMatcher" (MaskFormer Table 5: DETR's class + L1 + GIoU box costs; needs BOX_HEAD).
_C.MODEL.MASK_FORMER.MATCHER = "HungarianMatcher"
# [project] MaskFormer Table 5: a DETR box head on the standard decoder (pred_boxes), trained with
# DETR's L1 and GIoU losses (weights BOX_L1_WEIGHT, BOX_GIOU_WEIGHT) against the masks' boxes.
_C.MODEL.MASK_FORMER.BOX_HEAD = False
_C.MODEL.MASK_FORMER.BOX_L1_WEIGHT = 5.0
_C.MODEL.MASK_FORMER.BOX_GIOU_WEIGHT = 2.0
# Attention heads of the transformer decoder (and of the MaskFormer transformer encoder).
_C.MODEL.MASK_FORMER.NHEADS = 8
# Dropout in the transformer.
_C.MODEL.MASK_FORMER.DROPOUT = 0.1
# Hidden size of the transformer FFNs.
_C.MODEL.MASK_FORMER.DIM_FEEDFORWARD = 2048
# Transformer encoder layers in front of the MaskFormer (DETR) decoder.
_C.MODEL.MASK_FORMER.ENC_LAYERS = 0
# Decoder layers; for Mask2Former this counts the prediction from the learnable queries as well.
_C.MODEL.MASK_FORMER.DEC_LAYERS = 6
# Pre-norm transformer layers.
_C.MODEL.MASK_FORMER.PRE_NORM = False
# Width of the queries and of the transformer.
_C.MODEL.MASK_FORMER.HIDDEN_DIM = 256
# Number of queries N.
_C.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 100
# Decoder input: "res5", "transformer_encoder", "pixel_embedding", "multi_scale_pixel_decoder".
_C.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "res5"
# Project the decoder input with a 1x1 conv even when its width already equals HIDDEN_DIM.
_C.MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ = False
# Pad the batch to a multiple of this: 0 = no padding (MaskFormer COCO panoptic), -1 = the backbone's
# own (32 for Swin, 0 for ResNet). SemanticSegmentor ignores it and uses the backbone's (Detectron2).
_C.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = 32
# Transformer decoder name: "MultiScaleMaskedTransformerDecoder" (Mask2Former) or
# "StandardTransformerDecoder" (MaskFormer).
_C.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
# Points sampled per mask for losses and matching (112 * 112); [project] 0 = full masks (MaskFormer).
_C.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 112 * 112
# PointRend importance sampling: oversampling factor k and importance ratio beta.
_C.MODEL.MASK_FORMER.OVERSAMPLE_RATIO = 3.0
_C.MODEL.MASK_FORMER.IMPORTANCE_SAMPLE_RATIO = 0.75

_C.MODEL.MASK_FORMER.TEST = CN()
# Which results inference returns.
_C.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = True
_C.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
_C.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = False
# Panoptic: keep queries whose class score exceeds this.
_C.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD = 0.0
# Panoptic: drop a segment whose visible fraction of its mask is below this.
_C.MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD = 0.0
# Resize the mask logits to the output size before semantic inference (True), or combine them at the
# padded input size and resize the scores (False). PANOPTIC_ON or INSTANCE_ON implies True (official).
_C.MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE = False
# [project] Instance results: drop predictions whose score is not above this.
_C.MODEL.MASK_FORMER.TEST.INSTANCE_SCORE_THRESH = 0.0
# [project] Panoptic inference: "mask_former" (the papers' procedure) or "detr" (DETR's
# post-processing: threshold 0.85, arg-max of the mask logits, segments of <= 4 pixels dropped;
# MaskFormer Table 3's "MaskFormer (DETR)" row).
_C.MODEL.MASK_FORMER.TEST.PANOPTIC_PROCEDURE = "mask_former"

# -----------------------------------------------------------------------------
# INPUT
# -----------------------------------------------------------------------------
_C.INPUT = CN()
# Shorter side(s) in training: a list to choose from, or [min, max] with "range" sampling.
_C.INPUT.MIN_SIZE_TRAIN = [800]
# "choice" or "range" (see MIN_SIZE_TRAIN).
_C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
# Longer side cap in training.
_C.INPUT.MAX_SIZE_TRAIN = 1333
# Shorter side in test (0: no resize) and longer side cap.
_C.INPUT.MIN_SIZE_TEST = 800
_C.INPUT.MAX_SIZE_TEST = 1333
# Random flip in training: "horizontal", "vertical" or "none".
_C.INPUT.RANDOM_FLIP = "horizontal"
_C.INPUT.CROP = CN()
# Random crop in training.
_C.INPUT.CROP.ENABLED = False
# Crop type: "relative_range", "relative", "absolute", "absolute_range".
_C.INPUT.CROP.TYPE = "relative_range"
# Crop size: fractions for relative types, pixels (h, w) for absolute types.
_C.INPUT.CROP.SIZE = [0.9, 0.9]
# Retry a crop until no single category covers more than this fraction of it.
_C.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0
# Channel order the model expects: "RGB" or "BGR".
_C.INPUT.FORMAT = "BGR"
# Name in the dataset mapper registry: "mask_former_semantic", "mask_former_panoptic",
# "mask_former_instance", "coco_panoptic_lsj", "coco_instance_lsj", "detr_panoptic".
_C.INPUT.DATASET_MAPPER_NAME = "mask_former_semantic"
# Photometric distortion (SSD-style colour jitter) in training.
_C.INPUT.COLOR_AUG_SSD = False
# Pad image and ground truth to this size in the mapper (-1: no padding).
_C.INPUT.SIZE_DIVISIBILITY = -1
# Large-scale jitter: output size and scale range.
_C.INPUT.IMAGE_SIZE = 1024
_C.INPUT.MIN_SCALE = 0.1
_C.INPUT.MAX_SCALE = 2.0

# -----------------------------------------------------------------------------
# DATASETS (names registered by maskformer.data.register_builtin_datasets; the root directory is
# $MASKFORMER_DATASETS or $DETECTRON2_DATASETS, default ./datasets)
# -----------------------------------------------------------------------------
_C.DATASETS = CN()
# Training datasets (concatenated).
_C.DATASETS.TRAIN = []
# Test datasets (evaluated one after the other).
_C.DATASETS.TEST = []
# [project] Datasets declared in the config and registered by every tool: a list of mappings with
# name, format (coco_panoptic / coco_instance / sem_seg), paths and categories (see
# maskformer/data/datasets/from_config.py and "Your own data" in datasets/README.md).
_C.DATASETS.REGISTER = []
# [project] Check the TRAIN and TEST datasets before the first iteration (files exist, class ids,
# NUM_CLASSES, panoptic ids) and refuse to start on a problem.
_C.DATASETS.PREFLIGHT_CHECK = True
# [project] Records whose image and label files the pre-flight check reads (evenly spaced).
_C.DATASETS.PREFLIGHT_NUM_IMAGES = 16

# -----------------------------------------------------------------------------
# DATALOADER
# -----------------------------------------------------------------------------
_C.DATALOADER = CN()
# Data loading worker processes per training process.
_C.DATALOADER.NUM_WORKERS = 4
# Batch images of similar aspect ratio (landscape with landscape).
_C.DATALOADER.ASPECT_RATIO_GROUPING = True
# "TrainingSampler" or "RepeatFactorTrainingSampler" (class-balanced: images with rare categories
# repeat, by REPEAT_THRESHOLD / REPEAT_SQRT).
_C.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
# Repeat-factor sampling threshold, and whether the factor uses a square root.
_C.DATALOADER.REPEAT_THRESHOLD = 0.0
_C.DATALOADER.REPEAT_SQRT = True
# Drop images without annotations from instance training sets.
_C.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True

# -----------------------------------------------------------------------------
# SOLVER
# -----------------------------------------------------------------------------
_C.SOLVER = CN()
# "WarmupMultiStepLR", "WarmupCosineLR", "WarmupPolyLR" or "WarmupStepWithFixedGammaLR".
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
# Training iterations.
_C.SOLVER.MAX_ITER = 40000
# Base learning rate and the final learning rate of the cosine schedule.
_C.SOLVER.BASE_LR = 0.001
_C.SOLVER.BASE_LR_END = 0.0
# SGD momentum and Nesterov.
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
# Weight decay, and the decay of normalisation layers' parameters.
_C.SOLVER.WEIGHT_DECAY = 0.0001
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
# Multi-step decay factor and the iterations where it applies.
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.STEPS = [30000]
# Decays of "WarmupStepWithFixedGammaLR", one at each of NUM_DECAYS equal parts of MAX_ITER.
_C.SOLVER.NUM_DECAYS = 3
# Warmup: start factor, length and shape ("linear" or "constant").
_C.SOLVER.WARMUP_FACTOR = 1.0 / 1000
_C.SOLVER.WARMUP_ITERS = 1000
_C.SOLVER.WARMUP_METHOD = "linear"
# Stretch the decay over the iterations after warmup (Detectron2; not for WarmupPolyLR).
_C.SOLVER.RESCALE_INTERVAL = False
# Save a checkpoint every this many iterations.
_C.SOLVER.CHECKPOINT_PERIOD = 5000
# [project] A step whose gradients hold NaN / Inf: "skip" (no optimizer step; counted in the
# nonfinite_grad_skips metric) or "raise" (stop, naming the parameters).
_C.SOLVER.NONFINITE_GRADS = "skip"
# Images per iteration over all processes.
_C.SOLVER.IMS_PER_BATCH = 16
# World size the config was written for (0: no automatic rescaling). On another world size the
# Trainer rescales IMS_PER_BATCH and BASE_LR by world / reference and MAX_ITER, WARMUP_ITERS, STEPS,
# CHECKPOINT_PERIOD and TEST.EVAL_PERIOD by its inverse (Detectron2's auto_scale_workers).
_C.SOLVER.REFERENCE_WORLD_SIZE = 0
# Learning rate factor and weight decay of biases (None: WEIGHT_DECAY).
_C.SOLVER.BIAS_LR_FACTOR = 1.0
_C.SOLVER.WEIGHT_DECAY_BIAS = None
_C.SOLVER.CLIP_GRADIENTS = CN()
# Gradient clipping.
_C.SOLVER.CLIP_GRADIENTS.ENABLED = False
# "value", "norm" (per parameter) or "full_model" (total norm over all parameters).
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "value"
# Clipping threshold and the p of the norm.
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
_C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
_C.SOLVER.AMP = CN()
# Automatic mixed precision in training.
_C.SOLVER.AMP.ENABLED = False
# [project] AMP dtype: "float16" (with a grad scaler) or "bfloat16".
_C.SOLVER.AMP.PRECISION = "float16"
# Poly schedule power and the constant learning rate it ends at.
_C.SOLVER.POLY_LR_POWER = 0.9
_C.SOLVER.POLY_LR_CONSTANT_ENDING = 0.0
# Weight decay of nn.Embedding parameters (the queries).
_C.SOLVER.WEIGHT_DECAY_EMBED = 0.0
# "SGD" or "ADAMW".
_C.SOLVER.OPTIMIZER = "ADAMW"
# Learning rate factor of the backbone.
_C.SOLVER.BACKBONE_MULTIPLIER = 0.1

# -----------------------------------------------------------------------------
# TEST
# -----------------------------------------------------------------------------
_C.TEST = CN()
# Expected metrics [[task, metric, value, tolerance], ...] checked after evaluation.
_C.TEST.EXPECTED_RESULTS = []
# Evaluate every this many iterations in training (0: only at the end).
_C.TEST.EVAL_PERIOD = 0
# Instance results kept per image (top-k over queries x classes).
_C.TEST.DETECTIONS_PER_IMAGE = 100
# [project] Semantic evaluation also reports PQ^St (each class present in an image is one segment),
# as the papers do beside mIoU for semantic models (the official repositories' separate tool).
_C.TEST.SEMANTIC_PQ = False
# [project] Images per forward pass of the Predictor and tools/demo.py (evaluation: one).
_C.TEST.IMS_PER_BATCH = 1
# [project] Prediction images drawn after training / --eval-only, to OUTPUT_DIR/visualizations/
# and TensorBoard (0: none).
_C.TEST.NUM_VISUALIZATIONS = 4
_C.TEST.AUG = CN()
# Test-time augmentation: shorter sides, longer side cap, and horizontal flip.
_C.TEST.AUG.ENABLED = False
_C.TEST.AUG.MIN_SIZES = [400, 500, 600, 700, 800, 900, 1000, 1100, 1200]
_C.TEST.AUG.MAX_SIZE = 4000
_C.TEST.AUG.FLIP = True
_C.TEST.PRECISE_BN = CN()
# Recompute BatchNorm statistics before evaluation, over this many iterations (only models with
# BatchNorm layers in training mode; the official models have none).
_C.TEST.PRECISE_BN.ENABLED = False
_C.TEST.PRECISE_BN.NUM_ITER = 200
_C.TEST.AMP = CN()
# [project] Evaluation and the Predictor run under autocast with SOLVER.AMP.PRECISION ("bfloat16" on
# CPU); post-processing stays float32. Detectron2 evaluates in float32 even with SOLVER.AMP on.
_C.TEST.AMP.ENABLED = False

# -----------------------------------------------------------------------------
# Misc
# -----------------------------------------------------------------------------
# Directory for checkpoints, logs and evaluation results.
_C.OUTPUT_DIR = "./output"
# Random seed (negative: a different seed per run).
_C.SEED = -1
# torch.backends.cudnn.benchmark.
_C.CUDNN_BENCHMARK = False
# [project] Write metrics (console, metrics.json, TensorBoard) every this many iterations; the
# first console line comes after a few iterations.
_C.LOG_PERIOD = 20

# -----------------------------------------------------------------------------
# Keys that only let official files load (Detectron2's R-CNN, RetinaNet, FPN, DeepLab head, ...);
# each is listed, with the reason it changes nothing, in compat.NO_EFFECT_KEYS.
# -----------------------------------------------------------------------------
add_compat_config(_C)
