"""Runs an official recipe end to end on the tiny datasets of ``recipe_root``: its own train loader,
one training step through ``Trainer``, then the evaluation ``--eval-only`` runs (``Trainer.test``).

The config is loaded unchanged except for :func:`shrink`, which makes the model and the inputs small
without changing their kind: same backbone family, pixel decoder, transformer decoder, loss, mapper
and evaluators. What a run should give is derived from the config on its own (the official rules),
not from the code under test: :func:`expected_loss_keys` and :func:`expected_tasks`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from maskformer.data import MetadataCatalog
from maskformer.engine import Trainer
from tests.helpers.zoo_build import backbone_class, load_cfg, rel

# Test-time shortest edge of every shrunk recipe; the other sizes keep their ratio to it.
TEST_SIZE = 64
# Model widths after shrinking.
QUERIES = 16  # queries x classes stays >= TEST.DETECTIONS_PER_IMAGE (100) for every dataset
HIDDEN_DIM = 32
CONVS_DIM = 32  # GroupNorm(32) in the pixel decoders needs a multiple of 32
DIM_FEEDFORWARD = 64
DEC_LAYERS = 4  # Mask2Former: the query prediction + one layer per feature scale
TRAIN_NUM_POINTS = 256

# Keys ``shrink`` may change; anything else would change what the recipe is.
SHRUNK_KEYS = frozenset(
    {
        "MODEL.WEIGHTS",
        "MODEL.DEVICE",
        "MODEL.RESNETS.STEM_OUT_CHANNELS",
        "MODEL.RESNETS.WIDTH_PER_GROUP",
        "MODEL.RESNETS.RES2_OUT_CHANNELS",
        "MODEL.SWIN.EMBED_DIM",
        "MODEL.SWIN.DEPTHS",
        "MODEL.SEM_SEG_HEAD.CONVS_DIM",
        "MODEL.SEM_SEG_HEAD.MASK_DIM",
        "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS",
        "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES",
        "MODEL.MASK_FORMER.HIDDEN_DIM",
        "MODEL.MASK_FORMER.DIM_FEEDFORWARD",
        "MODEL.MASK_FORMER.DEC_LAYERS",
        "MODEL.MASK_FORMER.ENC_LAYERS",
        "MODEL.MASK_FORMER.TRAIN_NUM_POINTS",
        "INPUT.MIN_SIZE_TRAIN",
        "INPUT.MAX_SIZE_TRAIN",
        "INPUT.MIN_SIZE_TEST",
        "INPUT.MAX_SIZE_TEST",
        "INPUT.CROP.SIZE",
        "INPUT.IMAGE_SIZE",
        "INPUT.SIZE_DIVISIBILITY",
        "SOLVER.IMS_PER_BATCH",
        "SOLVER.MAX_ITER",
        "DATALOADER.NUM_WORKERS",
        "OUTPUT_DIR",
    }
)


# The headline metric of each result task; a finite value means its ground truth was evaluated.
MAIN_METRICS = {"sem_seg": "mIoU", "panoptic_seg": "PQ", "segm": "AP", "bbox": "AP"}


def _round32(x: float) -> int:
    """A size that stays a multiple of the backbone's stride 32 (crops, LSJ size, padding)."""
    return max(32, 32 * round(x / 32))


def _shrink_inputs(cfg) -> None:
    """Scales every input size so that the test-time shortest edge becomes ``TEST_SIZE``."""
    inp = cfg.INPUT
    scale = TEST_SIZE / inp.MIN_SIZE_TEST
    inp.MIN_SIZE_TRAIN = tuple(max(1, round(s * scale)) for s in inp.MIN_SIZE_TRAIN)
    inp.MAX_SIZE_TRAIN = round(inp.MAX_SIZE_TRAIN * scale)
    inp.MIN_SIZE_TEST = TEST_SIZE
    inp.MAX_SIZE_TEST = round(inp.MAX_SIZE_TEST * scale)
    inp.IMAGE_SIZE = _round32(inp.IMAGE_SIZE * scale)
    if inp.SIZE_DIVISIBILITY > 0:
        inp.SIZE_DIVISIBILITY = _round32(inp.SIZE_DIVISIBILITY * scale)
    if inp.CROP.TYPE == "absolute":
        inp.CROP.SIZE = [_round32(s * scale) for s in inp.CROP.SIZE]
    elif inp.CROP.TYPE == "absolute_range":
        inp.CROP.SIZE = [max(1, round(s * scale)) for s in inp.CROP.SIZE]


def _shrink_model(cfg) -> None:
    model = cfg.MODEL
    if model.RESNETS.DEPTH >= 50:  # bottleneck ResNets; R18 / R34 need 64 res2 channels
        model.RESNETS.STEM_OUT_CHANNELS = 16
        model.RESNETS.WIDTH_PER_GROUP = 8
        model.RESNETS.RES2_OUT_CHANNELS = 32
    # Swin: 8 channels per head in every stage (the heads stay), two blocks (a shifted pair) per stage.
    model.SWIN.EMBED_DIM = 8 * model.SWIN.NUM_HEADS[0]
    model.SWIN.DEPTHS = [2] * len(model.SWIN.DEPTHS)
    head = model.SEM_SEG_HEAD
    head.CONVS_DIM = CONVS_DIM
    head.MASK_DIM = CONVS_DIM
    head.TRANSFORMER_ENC_LAYERS = min(head.TRANSFORMER_ENC_LAYERS, 1)
    mf = model.MASK_FORMER
    if head.NAME != "PerPixelBaselinePlusHead":  # that head has one query per class
        mf.NUM_OBJECT_QUERIES = QUERIES
    mf.HIDDEN_DIM = HIDDEN_DIM
    mf.DIM_FEEDFORWARD = DIM_FEEDFORWARD
    mf.DEC_LAYERS = min(mf.DEC_LAYERS, DEC_LAYERS)
    mf.ENC_LAYERS = min(mf.ENC_LAYERS, 1)
    if mf.TRAIN_NUM_POINTS > 0:  # 0: losses on full masks (MaskFormer)
        mf.TRAIN_NUM_POINTS = TRAIN_NUM_POINTS


def shrink(cfg, output_dir: str):
    """``cfg`` with a small model, small inputs, batch 2, one iteration, no pretrained weights.

    Only keys of ``SHRUNK_KEYS`` change. The pretrained weights (``MODEL.WEIGHTS``) are not available
    offline and would not fit the shrunk model anyway.
    """
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    _shrink_model(cfg)
    _shrink_inputs(cfg)
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = 1
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.OUTPUT_DIR = output_dir
    cfg.freeze()
    return cfg


def expected_loss_keys(cfg) -> set[str]:
    """The official loss dict: per prediction the base losses, ``_i`` suffixed for the auxiliary ones.

    Both decoders make ``DEC_LAYERS`` predictions (Mask2Former: the queries' own + ``DEC_LAYERS - 1``
    layers; MaskFormer: one per layer); all but the last are auxiliary under deep supervision. The
    per-pixel baseline has one loss; its "plus" variant supervises its decoder layers the same way.
    """
    head = cfg.MODEL.SEM_SEG_HEAD.NAME
    if head == "PerPixelBaselineHead":
        return {"loss_sem_seg"}
    base = ["loss_sem_seg"] if head == "PerPixelBaselinePlusHead" else ["loss_ce", "loss_mask", "loss_dice"]
    if cfg.MODEL.MASK_FORMER.BOX_HEAD:  # MaskFormer Table 5's box head adds DETR's box losses
        base += ["loss_bbox", "loss_giou"]
    aux = cfg.MODEL.MASK_FORMER.DEC_LAYERS - 1 if cfg.MODEL.MASK_FORMER.DEEP_SUPERVISION else 0
    return set(base) | {f"{key}_{i}" for key in base for i in range(aux)}


def expected_tasks(cfg, dataset_name: str) -> set[str]:
    """The result tasks of the official ``train_net.py`` evaluators for ``dataset_name``.

    A task is only expected when the dataset has its ground truth (COCO panoptic without
    ``panoptic_semseg`` has no semantic labels; Mapillary has no instance JSON).
    """
    meta = MetadataCatalog.get(dataset_name)
    kind = meta.evaluator_type
    fixed = {
        "sem_seg": {"sem_seg"},
        "cityscapes_sem_seg": {"sem_seg"},
        "coco": {"bbox", "segm"},
        "cityscapes_instance": {"segm"},
    }
    if kind in fixed:
        return fixed[kind]
    test = cfg.MODEL.MASK_FORMER.TEST
    cityscapes = kind == "cityscapes_panoptic_seg"
    tasks = {"panoptic_seg"} if test.PANOPTIC_ON else set()
    if test.INSTANCE_ON and (cityscapes or meta.get("json_file")):
        tasks |= {"segm"} if cityscapes else {"bbox", "segm"}
    has_semantic_gt = cityscapes or bool(meta.get("sem_seg_root"))
    if kind == "ade20k_panoptic_seg" or (test.SEMANTIC_ON and has_semantic_gt):
        tasks.add("sem_seg")
    return tasks


@dataclasses.dataclass
class RecipeRun:
    """What one recipe run gave."""

    config: str
    modules: set[str]
    losses: dict[str, float]
    evaluators: list[str]
    results: dict[str, Any]
    seconds: float

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.losses.values())


class _RecordingTrainer(Trainer):
    """``Trainer`` that remembers the evaluators ``Trainer.test`` builds."""

    built_evaluators: list[str] = []

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder: str | None = None) -> Any:
        evaluators = super().build_evaluator(cfg, dataset_name, output_folder)
        cls.built_evaluators += [type(e).__name__ for e in evaluators.evaluators]
        return evaluators


def run_recipe(path: Path, output_dir: str) -> tuple[Any, RecipeRun]:
    """Shrinks the config at ``path``, trains one step and evaluates; returns (cfg, run).

    The built-in datasets must be registered (``recipe_root.recipe_catalog``).
    """
    start = time.perf_counter()
    cfg = shrink(load_cfg(path), output_dir)
    _RecordingTrainer.built_evaluators = []
    trainer = _RecordingTrainer(cfg)
    loss_dicts: list[dict] = []
    trainer.model.register_forward_hook(lambda m, _, out: loss_dicts.append(out) if m.training else None)
    results = trainer.train() or {}
    (loss_dict,) = loss_dicts
    losses = {name: float(value.detach()) for name, value in loss_dict.items()}
    run = RecipeRun(
        config=rel(path),
        modules={type(m).__name__ for m in trainer.model.modules()},
        losses=losses,
        evaluators=list(_RecordingTrainer.built_evaluators),
        results=results,
        seconds=time.perf_counter() - start,
    )
    return cfg, run


def problems(cfg, run: RecipeRun) -> list[str]:
    """How ``run`` differs from what the shrunk ``cfg`` should give (empty: as expected)."""
    out = []
    model = cfg.MODEL
    kinds = {backbone_class(model.BACKBONE.NAME).__name__}
    if model.META_ARCHITECTURE == "MaskFormer":
        kinds |= {model.SEM_SEG_HEAD.PIXEL_DECODER_NAME, model.MASK_FORMER.TRANSFORMER_DECODER_NAME}
    if not kinds <= run.modules:
        out.append(f"model lacks {sorted(kinds - run.modules)}")
    expected, got = expected_loss_keys(cfg), set(run.losses)
    if got != expected:
        out.append(f"loss keys: missing {sorted(expected - got)}, extra {sorted(got - expected)}")
    if not run.finite:
        out.append(f"non-finite losses {run.losses}")
    tasks = expected_tasks(cfg, cfg.DATASETS.TEST[0])
    if set(run.results) != tasks:
        out.append(f"result tasks {sorted(run.results)}, expected {sorted(tasks)}")
    if not run.evaluators:
        out.append("no evaluator ran")
    for task, metric in MAIN_METRICS.items():
        value = run.results.get(task, {}).get(metric, 0.0)
        if not math.isfinite(value):
            out.append(f"{task}/{metric} is {value}")
    return out


def table_row(cfg, run: RecipeRun) -> str:
    """One markdown row: config | train step | loss keys | evaluators | tasks | seconds | as expected."""
    bases = sorted({k.rsplit("_", 1)[0] if k[-1].isdigit() else k for k in run.losses})
    keys = f"{len(run.losses)} ({', '.join(bases)})"
    step = "OK" if run.finite and run.losses else "FAILED"
    tasks = ", ".join(sorted(run.results))
    verdict = "; ".join(problems(cfg, run)) or "yes"
    evaluators = ", ".join(run.evaluators)
    return f"| {run.config} | {step} | {keys} | {evaluators} | {tasks} | {run.seconds:.1f} | {verdict} |"


TABLE_HEADER = (
    "| config | train step | loss keys | evaluators run | result tasks | seconds | as expected |\n"
    + "|---" * 7
    + "|"
)
