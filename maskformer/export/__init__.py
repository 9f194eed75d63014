"""Export of MaskFormer / Mask2Former networks to ``torch.export`` and ONNX, and running them.

An exported network runs inside the model's own pre- and post-processing through
``maskformer.engine.Predictor(cfg, network=OnnxNetwork("model.onnx"))`` (or ``network=
load_program("model.pt2").module()``): the same result dicts as the PyTorch model.
"""

from .network import OUTPUT_NAMES, SegmentationNetwork, dynamic_image_shape, example_images
from .onnx import INPUT_NAME, OnnxNetwork, export_onnx
from .program import export_program, load_program, save_program
from .verify import output_differences

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "OnnxNetwork",
    "SegmentationNetwork",
    "dynamic_image_shape",
    "example_images",
    "export_onnx",
    "export_program",
    "load_program",
    "output_differences",
    "save_program",
]
