"""CUDA against CPU: the deformable-attention core and a whole Mask2Former give the same numbers.

Runs where a CUDA device is present (the prepared GPU checks of ``bench/gpu_checks.sh``); TF32 is
switched off for the comparison, so both sides compute in full fp32.
"""

import pytest
import torch

from maskformer.layers.ms_deform_attn import ms_deform_attn_core
from maskformer.modeling import build_model
from tests.helpers.tiny_m2f_shapes import tiny_cfg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def _full_fp32():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_ms_deform_attn_core_forward_and_backward_match_cpu():
    shapes = [(16, 20), (8, 10), (4, 5)]
    g = torch.Generator().manual_seed(0)
    n, lq, m, c, p = 2, 40, 4, 8, 4
    value = torch.randn(n, sum(h * w for h, w in shapes), m, c, generator=g)
    locations = torch.rand(n, lq, m, len(shapes), p, 2, generator=g) * 1.6 - 0.3  # some outside
    weights = torch.rand(n, lq, m, len(shapes), p, generator=g)
    grad_out = torch.randn(n, lq, m * c, generator=g)

    def run(device):
        inputs = [t.to(device).requires_grad_() for t in (value, locations, weights)]
        out = ms_deform_attn_core(inputs[0], shapes, inputs[1], inputs[2])
        out.backward(grad_out.to(device))
        return [out.detach().cpu()] + [t.grad.cpu() for t in inputs]

    for got, expected in zip(run("cuda"), run("cpu")):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_tiny_mask2former_inference_matches_cpu():
    torch.manual_seed(0)
    cpu_model = build_model(tiny_cfg(opts=["MODEL.DEVICE", "cpu"])).eval()
    cuda_model = build_model(tiny_cfg(opts=["MODEL.DEVICE", "cuda"])).eval()
    cuda_model.load_state_dict(cpu_model.state_dict())
    g = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8, generator=g) for _ in range(2)]

    def run(model, device):
        inputs = [{"image": im.to(device), "height": 64, "width": 96} for im in images]
        with torch.no_grad():
            return model(inputs)

    for got, expected in zip(run(cuda_model, "cuda"), run(cpu_model, "cpu")):
        torch.testing.assert_close(got["sem_seg"].cpu(), expected["sem_seg"], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            got["instances"].scores.cpu(), expected["instances"].scores, rtol=1e-4, atol=1e-5
        )
        pan_got, pan_expected = got["panoptic_seg"][0].cpu(), expected["panoptic_seg"][0]
        assert (pan_got == pan_expected).float().mean() > 0.999
