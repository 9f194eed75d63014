"""A checkpoint written by an earlier version of the code (before the DETR layers were built from the
shared blocks) resumes exactly: same names, same outputs, optimizer state on the same parameters."""

import math
import shutil

import torch

from maskformer.checkpoint import Checkpointer
from maskformer.modeling import build_model
from maskformer.solver.build import build_optimizer
from tests.fixtures.checkpoints.make_shapes_maskformer_v1 import FIXTURE, probe_outputs, tiny_cfg


def _fresh_model_and_optimizer():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = build_model(cfg)
    return model, build_optimizer(cfg, model)


def test_initialisation_is_unchanged():
    model, _ = _fresh_model_and_optimizer()
    state = model.state_dict()
    old = torch.load(FIXTURE, weights_only=True)
    assert list(state) == list(old["model"])  # same names, in the same order
    sums = torch.stack([v.double().sum() for v in state.values()])
    torch.testing.assert_close(sums, old["init_sums"], rtol=0, atol=0)


def _adamw_step(w0, state, group):
    """The weight after one AdamW step from ``w0`` with the saved moments (torch's update rule)."""
    beta1, beta2 = group["betas"]
    step = float(state["step"])
    denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)) + group["eps"]
    w = w0 * (1 - group["lr"] * group["weight_decay"])
    return w - group["lr"] / (1 - beta1**step) * state["exp_avg"] / denom


def test_resume_loads_everything_and_gives_the_same_outputs(tmp_path):
    initial, _ = _fresh_model_and_optimizer()
    w0 = {name: p.detach().clone() for name, p in initial.named_parameters()}
    model, optimizer = _fresh_model_and_optimizer()
    shutil.copy(FIXTURE, tmp_path / "model.pth")
    (tmp_path / "last_checkpoint").write_text("model.pth")
    extra = Checkpointer(model, str(tmp_path), optimizer=optimizer).resume_or_load("", resume=True)  # strict
    assert extra["iteration"] == 1
    for key, value in probe_outputs(model).items():
        torch.testing.assert_close(value, extra["probe"][key])
    # Each parameter got the AdamW moments of its own step: its new value is w0 moved by them.
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        state = optimizer.state.get(p)
        expected = w0[name] if state is None else _adamw_step(w0[name], state, group_of[id(p)])
        torch.testing.assert_close(p.detach(), expected, msg=name)
