"""bf16 autocast on CPU: training steps and inference of a tiny shapes Mask2Former, fp32 islands."""

from __future__ import annotations

import math

import pytest
import torch

from maskformer.engine import AMPTrainer, Predictor, Trainer
from maskformer.evaluation import DatasetEvaluator
from maskformer.layers.ms_deform_attn import ms_deform_attn_core
from maskformer.modeling import build_model
from maskformer.structures import Instances
from maskformer.utils.events import EventStorage
from tests.helpers.tiny_m2f_shapes import save_tiny_weights, tiny_cfg
from tests.helpers.toy_engine import ToyTrainer, toy_cfg, toy_stream

BF16_OPTS = ["SOLVER.AMP.ENABLED", "True", "SOLVER.AMP.PRECISION", "bfloat16"]


def _training_batch() -> list[dict]:
    """Two 64x64 images with two instances each (classes 0/1 and 2/3): top and bottom halves."""
    gen = torch.Generator().manual_seed(0)
    inputs = []
    for i in range(2):
        masks = torch.zeros(2, 64, 64, dtype=torch.bool)
        masks[0, :32], masks[1, 32:] = True, True
        inputs.append(
            {
                "image": torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=gen),
                "height": 64,
                "width": 64,
                "instances": Instances((64, 64), gt_classes=torch.tensor([2 * i, 2 * i + 1]), gt_masks=masks),
            }
        )
    return inputs


def _record(obj, name: str, calls: list) -> None:
    """Replaces ``obj.name`` by a wrapper appending (autocast on?, float dtypes of args, result dtype)."""
    original = getattr(obj, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        dtypes = [a.dtype for a in args if torch.is_tensor(a) and a.is_floating_point()]
        calls.append((torch.is_autocast_enabled("cpu"), dtypes, result.dtype))
        return result

    setattr(obj, name, wrapper)


def test_bf16_training_step_keeps_matcher_and_losses_in_float32():
    torch.manual_seed(0)
    model = build_model(tiny_cfg(opts=BF16_OPTS))
    criterion = model.criterion
    costs, mask_losses, decoder_dtypes = [], [], []
    _record(criterion.matcher.mask_loss, "pairwise", costs)
    _record(criterion.mask_loss, "loss", mask_losses)
    model.sem_seg_head.predictor.class_embed.register_forward_hook(
        lambda module, args, out: decoder_dtypes.append(out.dtype)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    trainer = AMPTrainer(model, [_training_batch()], optimizer, precision="bfloat16")
    assert trainer.grad_scaler is None  # bf16 needs no loss scaling
    loss_dicts = []
    forward_losses = trainer.forward_losses
    trainer.forward_losses = lambda data: loss_dicts.append(forward_losses(data)) or loss_dicts[-1]
    before = [p.detach().clone() for p in model.parameters()]
    with EventStorage() as storage:
        trainer.run_step()

    (loss_dict,) = loss_dicts
    assert len(loss_dict) == 3 * 3  # ce / mask / dice for the final and 2 auxiliary predictions
    assert all(v.dtype == torch.float32 and math.isfinite(v.item()) for v in loss_dict.values())
    assert math.isfinite(storage.history("total_loss").latest())
    # The decoder ran in bf16; the matching costs (at least one call per prediction: per batch or
    # per image) and the mask losses were computed from float32 inputs with autocast off.
    assert set(decoder_dtypes) == {torch.bfloat16}
    assert len(costs) >= 3 and len(mask_losses) == 3
    for autocast_on, dtypes, result in costs + mask_losses:
        assert not autocast_on and set(dtypes) == {torch.float32} and result == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_deformable_sampling_under_autocast_equals_float32_exactly():
    # One 2x2 level, one head, one channel; the first query samples pixel (0, 0)'s centre, the
    # second the midpoint of pixels (0, 0) and (0, 1). 1 + 2**-12 is not a bf16 number.
    value = torch.tensor([1 + 2**-12, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    locations = torch.tensor([[0.25, 0.25], [0.5, 0.25]]).view(1, 2, 1, 1, 1, 2)
    weights = torch.ones(1, 2, 1, 1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ms_deform_attn_core(value, [(2, 2)], locations, weights)
    assert got.dtype == torch.float32
    assert got.flatten().tolist() == [1 + 2**-12, 1.5 + 2**-13]
    assert torch.equal(got, ms_deform_attn_core(value, [(2, 2)], locations, weights))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.pth")


def test_bf16_inference_keeps_the_result_contract(weights):
    image = torch.Generator().manual_seed(1)
    array = torch.randint(0, 256, (64, 80, 3), dtype=torch.uint8, generator=image).numpy()
    fp32 = Predictor(tiny_cfg(weights))
    bf16 = Predictor(tiny_cfg(weights, ["TEST.AMP.ENABLED", "True", "SOLVER.AMP.PRECISION", "bfloat16"]))
    dtypes = []
    bf16.model.sem_seg_head.predictor.class_embed.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype)
    )
    a, b = fp32(array), bf16(array)
    assert set(dtypes) == {torch.bfloat16}  # the decoder ran under autocast
    assert a["sem_seg"].dtype == b["sem_seg"].dtype == torch.float32
    assert a["sem_seg"].shape == b["sem_seg"].shape == (8, 64, 80)
    torch.testing.assert_close(b["sem_seg"], a["sem_seg"], atol=0.05, rtol=0)
    (pan_a, seg_a), (pan_b, seg_b) = a["panoptic_seg"], b["panoptic_seg"]
    assert pan_a.dtype == pan_b.dtype and pan_a.shape == pan_b.shape == (64, 80)
    assert all(set(x) == set(y) for x, y in zip(seg_a, seg_b))
    inst_a, inst_b = a["instances"], b["instances"]
    assert inst_a.image_size == inst_b.image_size and len(inst_a) == len(inst_b)
    for field in ("pred_masks", "scores", "pred_classes", "pred_boxes"):
        x, y = getattr(inst_a, field), getattr(inst_b, field)
        assert x.dtype == y.dtype and x.shape == y.shape, field


def test_float16_inference_on_cpu_is_refused(weights):
    cfg = tiny_cfg(weights, ["TEST.AMP.ENABLED", "True", "SOLVER.AMP.PRECISION", "float16"])
    with pytest.raises(ValueError, match="TEST.AMP.ENABLED with SOLVER.AMP.PRECISION=float16 needs a CUDA"):
        Predictor(cfg)


class _AutocastEvaluator(DatasetEvaluator):
    """Records, per processed batch, whether CPU autocast is on and its dtype."""

    def reset(self):
        self.seen = []

    def process(self, inputs, outputs):
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))

    def evaluate(self):
        return {"autocast": {"batches": len(self.seen)}}


class _EvalToyTrainer(ToyTrainer):
    test = classmethod(Trainer.test.__func__)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return [batch[:1] for batch, _ in zip(toy_stream(), range(2))]


@pytest.mark.parametrize("enabled", [False, True])
def test_evaluation_runs_under_autocast_only_with_test_amp(tmp_path, enabled):
    cfg = toy_cfg(str(tmp_path))
    cfg.DATASETS.TEST = ("toy",)
    cfg.TEST.AMP.ENABLED = enabled
    cfg.SOLVER.AMP.PRECISION = "bfloat16"
    evaluator = _AutocastEvaluator()
    _EvalToyTrainer.test(cfg, _EvalToyTrainer.build_model(cfg), evaluators=[evaluator])
    assert evaluator.seen == [(enabled, torch.bfloat16)] * 2
    cfg.SOLVER.AMP.PRECISION = "float16"
    if enabled:  # refused when the trainer is built, before any training
        with pytest.raises(ValueError, match="TEST.AMP.ENABLED with SOLVER.AMP.PRECISION=float16"):
            _EvalToyTrainer(cfg)
