"""End to end on the synthetic shapes dataset: perfect predictions score 100 on every metric."""

import numpy as np
import torch
from PIL import Image

from maskformer.config import get_cfg
from maskformer.data import DatasetCatalog, MetadataCatalog
from maskformer.data.datasets.register_shapes import register_shapes
from maskformer.data.datasets.shapes import ShapesSpec
from maskformer.evaluation import build_evaluator, inference_on_dataset
from maskformer.evaluation.pq import rgb2id
from maskformer.structures import Instances, masks_to_boxes


class OracleModel(torch.nn.Module):
    """Reads each image's ground truth and returns it as a perfect prediction."""

    def __init__(self, thing_ids, num_classes):
        super().__init__()
        self.thing_ids = set(thing_ids)
        self.num_classes = num_classes

    def forward(self, inputs):
        return [self._predict(inp) for inp in inputs]

    def _predict(self, inp):
        ids = rgb2id(np.array(Image.open(inp["pan_seg_file_name"]).convert("RGB")))
        segments = [s for s in inp["segments_info"] if not s.get("iscrowd", 0)]
        panoptic = np.where(np.isin(ids, [s["id"] for s in segments]), ids, 0)
        info = [
            {"id": s["id"], "category_id": s["category_id"], "isthing": s["category_id"] in self.thing_ids}
            for s in segments
        ]
        sem = torch.from_numpy(np.array(Image.open(inp["sem_seg_file_name"]), dtype=np.int64))
        scores = torch.nn.functional.one_hot(sem.clamp(max=self.num_classes - 1), self.num_classes)
        things = [s for s in segments if s["category_id"] in self.thing_ids]
        masks = torch.from_numpy(np.stack([ids == s["id"] for s in things])) if things else None
        instances = Instances(
            ids.shape,
            pred_masks=masks,
            scores=torch.ones(len(things)),
            pred_classes=torch.tensor([s["category_id"] for s in things], dtype=torch.int64),
            pred_boxes=masks_to_boxes(masks),
        )
        return {
            "panoptic_seg": (torch.from_numpy(panoptic).int(), info),
            "sem_seg": scores.permute(2, 0, 1).float(),
            "instances": instances,
        }


def test_perfect_predictions_on_shapes(tmp_path):
    names = register_shapes(
        str(tmp_path), ShapesSpec(image_size=48, num_train=1, num_val=4), prefix="evalshapes"
    )
    try:
        name = "evalshapes_val_panoptic"
        dicts = DatasetCatalog.get(name)
        metadata = MetadataCatalog.get(name)
        cfg = get_cfg()
        cfg.OUTPUT_DIR = str(tmp_path / "output")
        cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
        cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = True
        evaluator = build_evaluator(cfg, name)
        model = OracleModel(metadata.thing_dataset_id_to_contiguous_id.values(), len(metadata.stuff_classes))
        results = inference_on_dataset(model, [[d] for d in dicts], evaluator)
        assert results["panoptic_seg"]["PQ"] == 100.0
        assert results["sem_seg"]["mIoU"] == 100.0
        assert abs(results["segm"]["AP"] - 100.0) < 1e-9
        assert (tmp_path / "output" / "inference" / name / "panoptic_predictions.json").is_file()
    finally:
        for n in names:
            DatasetCatalog.remove(n)
            MetadataCatalog.remove(n)
