"""Cityscapes semantic and instance evaluation through the official ``cityscapesscripts``.

``cityscapesscripts`` is an optional extra (``pip install -e ".[cityscapes]"``); it is imported
only when an evaluator is built. Unlike the official code, which has every process write into a
temporary folder that only works on one machine, each process keeps its predictions encoded in
memory and ``evaluate`` gathers them to the main process (``comm.gather``), which writes them and
runs the official scripts. This works with any number of processes and machines.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..utils import comm
from .evaluator import DatasetEvaluator
from .testing import print_results_table, save_results_json

__all__ = ["CityscapesInstanceEvaluator", "CityscapesSemSegEvaluator"]

logger = logging.getLogger(__name__)


def _import_cityscapes(module: str) -> Any:
    """Imports ``cityscapesscripts.<module>`` or explains how to install the extra."""
    try:
        import importlib

        return importlib.import_module(f"cityscapesscripts.{module}")
    except ImportError as e:
        raise ImportError(
            "Cityscapes evaluation needs the optional 'cityscapesscripts' package: install it with "
            'pip install -e ".[cityscapes]" (or pip install cityscapesscripts).'
        ) from e


def _official_script(name: str, prediction_folder: str) -> Any:
    """``cityscapesscripts.evaluation.<name>`` set to read the predictions of ``prediction_folder``.

    No JSON output or colourised images: the evaluator writes its own results file.
    """
    cs = _import_cityscapes(f"evaluation.{name}")
    cs.args.predictionPath = prediction_folder
    cs.args.predictionWalk = None
    cs.args.JSONOutput = False
    cs.args.colorized = False
    return cs


@contextlib.contextmanager
def _numpy_compat() -> Iterator[None]:
    """Provides ``np.in1d`` (removed in numpy 2.4, still used by cityscapesscripts 2.3) meanwhile."""
    added = not hasattr(np, "in1d")
    if added:
        np.in1d = lambda a, b, invert=False: np.isin(np.ravel(a), b, invert=invert)
    try:
        yield
    finally:
        if added:
            del np.in1d


def _json_default(obj: Any) -> Any:
    # cityscapesscripts serialises its objects through __dict__; numpy >= 2 scalars have none.
    return obj.item() if isinstance(obj, np.generic) else obj.__dict__


def _json_writer(folder: str) -> Callable[[Any, str], None]:
    """A replacement for cityscapesscripts' ``writeDict2JSON`` that also accepts numpy scalars and
    writes relative names into ``folder``: the instance script saves its ``matches.json`` in the
    working directory otherwise."""

    def write(data: Any, file_name: str) -> None:
        with open(os.path.join(folder, file_name), "w") as f:
            json.dump(data, f, default=_json_default, sort_keys=True, indent=4)

    return write


def _frame_key(path: str) -> str:
    """``city_sequence_frame`` of a Cityscapes file name (``aachen_000000_000019_...``)."""
    return "_".join(os.path.basename(path).split("_")[:3])


class _CityscapesEvaluator(DatasetEvaluator):
    """Shared part: prediction files kept in memory, gathered, written, then scored officially.

    Args:
        gt_dir: ``gtFine/<split>`` folder (one sub-folder per city).
        output_dir: where the prediction files and results go; None: a temporary folder.
    """

    _gt_pattern = ""
    _folder_name = ""

    def __init__(self, gt_dir: str, output_dir: str | None = None) -> None:
        if not os.path.isdir(gt_dir):
            raise FileNotFoundError(f"Cityscapes ground-truth folder {gt_dir!r} not found (metadata gt_dir).")
        self._gt_dir = gt_dir
        self._output_dir = output_dir
        self.reset()

    def reset(self) -> None:
        self._files: dict[str, bytes] = {}

    def _gt_files(self, predicted: set[str]) -> list[str]:
        """Ground-truth files of the predicted frames; warns about frames not predicted."""
        gt_files = sorted(glob.glob(os.path.join(self._gt_dir, "*", self._gt_pattern)))
        if not gt_files:
            raise FileNotFoundError(f"No '{self._gt_pattern}' files under {self._gt_dir!r}.")
        kept = [f for f in gt_files if _frame_key(f) in predicted]
        if len(kept) < len(gt_files):
            logger.warning(
                "%d of %d Cityscapes frames were not predicted.", len(gt_files) - len(kept), len(gt_files)
            )
        return kept

    def evaluate(self) -> dict[str, Any]:
        parts = comm.gather(self._files)
        if not comm.is_main_process():
            return {}
        folder = os.path.join(self._output_dir, self._folder_name) if self._output_dir else tempfile.mkdtemp()
        os.makedirs(folder, exist_ok=True)
        predicted = set()
        for part in parts:
            for name, data in part.items():
                predicted.add(_frame_key(name))
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(data)
        log = io.StringIO()
        try:
            with _numpy_compat(), contextlib.redirect_stdout(log):
                results = self._run_official(os.path.abspath(folder), self._gt_files(predicted))
        finally:
            logger.info("cityscapesscripts output:\n%s", log.getvalue())
            if not self._output_dir:
                shutil.rmtree(folder, ignore_errors=True)
        for task, metrics in results.items():
            print_results_table(task, metrics)
        save_results_json(results, self._output_dir, f"{self._folder_name}_evaluation.json")
        return results


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class CityscapesSemSegEvaluator(_CityscapesEvaluator):
    """Cityscapes semantic IoU / iIoU (classes and categories) with the official script.

    The model's ``sem_seg`` channels are Cityscapes train ids (19 classes); predictions are written
    as label-id PNGs.
    """

    _gt_pattern = "*_gtFine_labelIds.png"
    _folder_name = "cityscapes_sem_seg"

    def __init__(self, gt_dir: str, output_dir: str | None = None) -> None:
        labels = _import_cityscapes("helpers.labels")
        # train id -> official label id; channels of ignored labels never get written.
        lut = np.full(256, 255, dtype=np.uint8)
        for train_id, label in labels.trainId2label.items():
            if not label.ignoreInEval and 0 <= train_id < 255:
                lut[train_id] = label.id
        self._lut = lut
        super().__init__(gt_dir, output_dir)

    @classmethod
    def from_metadata(cls, metadata: Any, **kwargs: Any) -> CityscapesSemSegEvaluator:
        return cls(gt_dir=metadata.gt_dir, **kwargs)

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Encodes each image's arg-max label-id map as ``<basename>_pred.png``."""
        for inp, out in zip(inputs, outputs):
            pred = out["sem_seg"].argmax(dim=0).cpu().numpy()
            basename = os.path.splitext(os.path.basename(inp["file_name"]))[0]
            self._files[f"{basename}_pred.png"] = _png_bytes(self._lut[pred.clip(0, 255)])

    def _run_official(self, folder: str, gt_files: list[str]) -> dict[str, dict[str, float]]:
        cs = _official_script("evalPixelLevelSemanticLabeling", folder)
        predictions = [cs.getPrediction(cs.args, gt) for gt in gt_files]
        res = cs.evaluateImgLists(predictions, gt_files, cs.args)
        return OrderedDict(
            sem_seg={
                "IoU": 100.0 * res["averageScoreClasses"],
                "iIoU": 100.0 * res["averageScoreInstClasses"],
                "IoU_sup": 100.0 * res["averageScoreCategories"],
                "iIoU_sup": 100.0 * res["averageScoreInstCategories"],
            }
        )


class CityscapesInstanceEvaluator(_CityscapesEvaluator):
    """Cityscapes instance AP / AP50 with the official script.

    Args:
        gt_dir: ``gtFine/<split>`` folder.
        thing_classes: names of the contiguous thing classes (Cityscapes label names).
        output_dir: where the prediction files and results go; None: a temporary folder.
    """

    _gt_pattern = "*_gtFine_instanceIds.png"
    _folder_name = "cityscapes_instance"

    def __init__(self, gt_dir: str, thing_classes: Sequence[str], output_dir: str | None = None) -> None:
        labels = _import_cityscapes("helpers.labels")
        unknown = [c for c in thing_classes if c not in labels.name2label]
        if unknown:
            raise KeyError(
                f"Thing classes {unknown} are not Cityscapes label names (cityscapesscripts labels)."
            )
        self._thing_classes = list(thing_classes)
        self._label_ids = [labels.name2label[c].id for c in thing_classes]
        super().__init__(gt_dir, output_dir)

    @classmethod
    def from_metadata(cls, metadata: Any, **kwargs: Any) -> CityscapesInstanceEvaluator:
        return cls(gt_dir=metadata.gt_dir, thing_classes=metadata.thing_classes, **kwargs)

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        """Encodes one PNG per instance and a ``<basename>_pred.txt`` listing them (official format)."""
        for inp, out in zip(inputs, outputs):
            basename = os.path.splitext(os.path.basename(inp["file_name"]))[0]
            lines = []
            instances = out.get("instances")
            if instances is not None and len(instances):
                masks = instances.pred_masks.cpu().numpy().astype(np.uint8)
                classes = instances.pred_classes.cpu().tolist()
                scores = instances.scores.cpu().tolist()
                for i, (mask, cls, score) in enumerate(zip(masks, classes, scores)):
                    name = f"{basename}_{i}_{self._thing_classes[cls]}.png"
                    self._files[name] = _png_bytes(mask * 255)
                    lines.append(f"{name} {self._label_ids[cls]} {score}\n")
            # The official script needs a prediction file for every ground-truth frame.
            self._files[f"{basename}_pred.txt"] = "".join(lines).encode()

    def _run_official(self, folder: str, gt_files: list[str]) -> dict[str, dict[str, float]]:
        cs = _official_script("evalInstanceLevelSemanticLabeling", folder)
        # A fresh ground-truth cache per run: the default location is shared by every run.
        cs.args.gtInstancesFile = os.path.join(folder, "gtInstances.json")
        if os.path.exists(cs.args.gtInstancesFile):
            os.remove(cs.args.gtInstancesFile)
        predictions = [cs.getPrediction(gt, cs.args) for gt in gt_files]
        original_writer = cs.writeDict2JSON
        cs.writeDict2JSON = _json_writer(folder)
        try:
            averages = cs.evaluateImgLists(predictions, gt_files, cs.args)["averages"]
        finally:
            cs.writeDict2JSON = original_writer
        return OrderedDict(segm={"AP": 100.0 * averages["allAp"], "AP50": 100.0 * averages["allAp50%"]})
