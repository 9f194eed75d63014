"""Runs the malformed corpus through the validator, training and evaluation; writes the outcome table.

Each stage's outcome is one line: ``refused: <Error>: <message>`` (an exception, or the validator's
problems), ``accepted: <result>[; warned: <logged warnings>]`` or ``n/a``. The stages:

* ``validator``: ``validate_dataset`` on the registered dataset;
* ``training``: the training loader's ``get_dataset_dicts`` and the task's mapper on every record;
  for configs, loading the config (file / override) or ``Trainer(cfg)``; for checkpoints,
  ``Checkpointer.load`` (what ``MODEL.WEIGHTS`` and ``--eval-only`` use);
* ``evaluation``: the task's evaluator on the ground truth, fed a perfect prediction of the clean
  base (the evaluators read the annotation files themselves).

Usage: ``python -m tests.helpers.run_malformed OUT.md`` (from the repository root) writes the table
as Markdown.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from typing import Any

import numpy as np
import torch

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, MetadataCatalog, get_dataset_dicts, validate_dataset
from maskformer.data.datasets import (
    instance_metadata,
    panoptic_metadata,
    register_coco_instances,
    register_coco_panoptic,
    register_sem_seg,
    semantic_metadata,
)
from maskformer.data.mappers import InstanceMapper, PanopticMapper, SemanticMapper
from maskformer.structures.instances import Instances
from tests.helpers.malformed_corpus import (
    BASES,
    CASES,
    INST_CATEGORIES,
    PAN_CATEGORIES,
    SEM_CLASSES,
    Case,
    Files,
    dump_json,
    inst_truth,
    pan_truth,
    png_bytes,
    sem_truth,
)

STAGES = ("validator", "training", "evaluation")
_NUM_CLASSES = {
    "panoptic": len(PAN_CATEGORIES),
    "instance": len(INST_CATEGORIES),
    "semantic": len(SEM_CLASSES),
}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def outcome(stage: Any) -> str:
    """Runs ``stage()`` (returns a summary, or a list of problems) and describes what happened."""
    handler = _Collect()
    logger = logging.getLogger("maskformer")
    logger.addHandler(handler)
    try:
        result = stage()
    except Exception as e:  # every error is recorded; the test decides whether it is a clear one
        return _one_line(f"refused: {type(e).__name__}: {e}")
    finally:
        logger.removeHandler(handler)
    if isinstance(result, list) and result:
        return _one_line("refused: " + " || ".join(str(p) for p in result))
    text = f"accepted: {'0 problems' if isinstance(result, list) else result}"
    if handler.messages:
        text += "; warned: " + " | ".join(handler.messages)
    return _one_line(text)


def write_files(files: Files, case_dir: str) -> str:
    """Writes a dataset case below ``case_dir``; returns its dataset folder ``case_dir/ds``."""
    ds = os.path.join(case_dir, "ds")
    entries = [(os.path.join(ds, k), v) for k, v in files.maps.items()]
    entries += [(os.path.join(case_dir, k), v) for k, v in files.extra.items()]
    if files.json is not None:
        entries.append((os.path.join(ds, "annotations.json"), dump_json(files.json)))
    for path, value in entries:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(value if isinstance(value, bytes) else png_bytes(value))
    return ds


def register(case: Case, ds: str) -> str:
    name = f"corpus_{case.name}"
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    images, json_file = os.path.join(ds, "images"), os.path.join(ds, "annotations.json")
    if case.kind == "panoptic":
        meta = panoptic_metadata(PAN_CATEGORIES)
        register_coco_panoptic(name, meta, images, os.path.join(ds, "panoptic"), json_file)
    elif case.kind == "instance":
        register_coco_instances(name, instance_metadata(INST_CATEGORIES), json_file, images)
    else:
        meta = semantic_metadata([{"name": n} for n in SEM_CLASSES])
        register_sem_seg(name, meta, images, os.path.join(ds, "labels"), gt_ext="png", image_ext="png")
    return name


def _validator(case: Case, name: str) -> list:
    cfg = get_cfg()
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = _NUM_CLASSES[case.kind]
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
    return validate_dataset(cfg, name)


def _training(case: Case, name: str) -> str:
    dicts = get_dataset_dicts([name])
    mapper = {
        "panoptic": PanopticMapper(augmentations=[]),
        "instance": InstanceMapper(augmentations=[]),
        "semantic": SemanticMapper(augmentations=[], num_classes=len(SEM_CLASSES)),
    }[case.kind]
    targets = sum(len(mapper(dict(d))["instances"]) for d in dicts)
    return f"{len(dicts)} records, {targets} targets"


def _panoptic_evaluation(name: str, case_dir: str) -> str:
    from maskformer.evaluation import COCOPanopticEvaluator

    meta = MetadataCatalog.get(name)
    evaluator = COCOPanopticEvaluator.from_metadata(meta, output_dir=os.path.join(case_dir, "out"))
    contiguous = meta.stuff_dataset_id_to_contiguous_id
    for image_id, (ids, segments) in pan_truth().items():
        predicted = [
            {"id": s["id"], "category_id": contiguous[s["category_id"]], "isthing": s["category_id"] == 1}
            for s in segments
        ]
        inp = {"image_id": image_id, "file_name": f"{image_id:06d}.png"}
        evaluator.process([inp], [{"panoptic_seg": (torch.from_numpy(ids), predicted)}])
    return f"PQ {evaluator.evaluate()['panoptic_seg']['PQ']:.1f}"


def _xyxy(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _instance_evaluation(name: str, case_dir: str) -> str:
    from maskformer.evaluation import COCOInstanceEvaluator

    meta = MetadataCatalog.get(name)
    evaluator = COCOInstanceEvaluator.from_metadata(meta, output_dir=os.path.join(case_dir, "out"))
    for image_id, objects in inst_truth().items():
        masks = torch.from_numpy(np.stack([m for _, m in objects]))
        boxes = [_xyxy(m) for _, m in objects]
        pred = Instances(
            (masks.shape[1], masks.shape[2]),
            pred_masks=masks,
            scores=torch.ones(len(objects)),
            pred_classes=torch.tensor([meta.thing_dataset_id_to_contiguous_id[c] for c, _ in objects]),
            pred_boxes=torch.tensor(boxes, dtype=torch.float32),
        )
        evaluator.process([{"image_id": image_id}], [{"instances": pred}])
    return f"mask AP {evaluator.evaluate()['segm']['AP']:.1f}"


def _semantic_evaluation(name: str, case_dir: str) -> str:
    from maskformer.evaluation import SemSegEvaluator

    evaluator = SemSegEvaluator.from_metadata(
        MetadataCatalog.get(name), output_dir=os.path.join(case_dir, "out")
    )
    ds = os.path.join(case_dir, "ds")
    for stem, labels in sem_truth().items():
        scores = torch.nn.functional.one_hot(torch.from_numpy(labels % 255).long(), len(SEM_CLASSES))
        inp = {"file_name": f"{ds}/images/{stem}.png", "sem_seg_file_name": f"{ds}/labels/{stem}.png"}
        evaluator.process([inp], [{"sem_seg": scores.permute(2, 0, 1).float()}])
    return f"mIoU {evaluator.evaluate()['sem_seg']['mIoU']:.1f}"


_EVALUATIONS = {
    "panoptic": _panoptic_evaluation,
    "instance": _instance_evaluation,
    "semantic": _semantic_evaluation,
}


def _config_load(case: Case, case_dir: str) -> str:
    cfg = get_cfg()
    how, value = case.payload
    if how == "yaml":
        path = os.path.join(case_dir, "cfg.yaml")
        with open(path, "w") as f:
            f.write(value)
        cfg.merge_from_file(path)
    elif how == "override":
        cfg.merge_from_list(value)
    else:
        from maskformer.engine import Trainer

        for key, v in value.items():
            *parents, leaf = key.split(".")
            node = cfg
            for part in parents:
                node = node[part]
            node[leaf] = v
        Trainer(cfg)
    return "config loaded"


def _checkpoint_load(case: Case, case_dir: str) -> str:
    from maskformer.checkpoint import Checkpointer

    suffix, make = case.payload
    path = os.path.join(case_dir, "model" + suffix)
    with open(path, "wb") as f:
        f.write(make())
    model = torch.nn.Linear(3, 2)
    Checkpointer(model, os.path.join(case_dir, "ckpt")).load(path)
    return f"loaded {len(model.state_dict())} tensors"


def run_case(case: Case, case_dir: str) -> dict[str, str]:
    """Outcome of every stage of ``case`` (files written under ``case_dir``); absent stages are n/a."""
    os.makedirs(case_dir, exist_ok=True)
    if case.kind == "config":
        return {"training": outcome(lambda: _config_load(case, case_dir))}
    if case.kind == "checkpoint":
        return {"training": outcome(lambda: _checkpoint_load(case, case_dir))}
    files = BASES[case.kind]()
    if case.mutate is not None:
        case.mutate(files)
    name = register(case, write_files(files, case_dir))
    stages = {
        "validator": lambda: _validator(case, name),
        "training": lambda: _training(case, name),
        "evaluation": lambda: _EVALUATIONS[case.kind](name, case_dir),
    }
    return {stage: outcome(fn) for stage, fn in stages.items() if stage in case.expect}


def _cell(text: str, width: int = 240) -> str:
    text = text.replace("|", "\\|").replace("\0", "\\0")
    return text if len(text) <= width else text[: width - 3] + "..."


def table(results: list[tuple[Case, dict[str, str]]]) -> str:
    """Markdown table: case -> validator / training / evaluation outcome."""
    lines = [
        "| # | case | format | defect | validator | training | evaluation |",
        "|---|------|--------|--------|-----------|----------|------------|",
    ]
    for k, (case, out) in enumerate(results, start=1):
        cells = [_cell(out.get(stage, "n/a")) for stage in STAGES]
        lines.append(
            f"| {k} | {case.name} | {case.kind} | {_cell(case.defect)} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def summary(results: list[tuple[Case, dict[str, str]]]) -> str:
    """Counts of stage outcomes over the defects (the ``*_clean`` controls left out)."""
    outcomes = [o for case, out in results if not case.name.endswith("_clean") for o in out.values()]
    refused = sum(o.startswith("refused") for o in outcomes)
    warned = sum(o.startswith("accepted") and "; warned:" in o for o in outcomes)
    return (
        f"{len(results)} cases ({sum(c.name.endswith('_clean') for c, _ in results)} clean controls), "
        f"{len(outcomes)} stage outcomes on defects: {refused} refused with an error naming the file or "
        f"key, {warned} handled with a warning, {len(outcomes) - refused - warned} scored correctly "
        "without warning (the defect does not touch what that stage reads).\n\n"
    )


def main(out_path: str) -> None:
    logging.getLogger("maskformer").setLevel(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            case_dir = os.path.join(tmp, case.name)
            out = run_case(case, case_dir)
            results.append((case, {k: v.replace(case_dir + "/", "") for k, v in out.items()}))
    with open(out_path, "w") as f:
        f.write(summary(results) + table(results))


if __name__ == "__main__":
    main(sys.argv[1])
