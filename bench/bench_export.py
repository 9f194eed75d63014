"""CPU latency of the ONNX export under onnxruntime vs the eager PyTorch model.

The network (normalised image -> ``pred_logits``, ``pred_masks``) of the R50 COCO-panoptic
Mask2Former (random weights; ``--config-file`` for another model) is exported once with dynamic
height and width, then both run on the same input at each size with the same number of threads
(medians of ``--runs`` runs after a warm-up). The max |Δ| between them is printed too.

Usage: ``python bench/bench_export.py [--sizes 512x512 800x1088] [--runs 3] [--threads 2]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from common import CONFIG, load_note, median_time

from maskformer import export
from maskformer.config import load_config
from maskformer.modeling import build_model


def build_network(config_file: str) -> export.SegmentationNetwork:
    cfg = load_config(config_file, ["MODEL.DEVICE", "cpu"], freeze=False)
    torch.manual_seed(0)
    return export.SegmentationNetwork(build_model(cfg, thing_ids=[]).eval()).eval()


def _size(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default=str(CONFIG))
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(512, 512), (800, 1088)])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} runs={args.runs}; {load_note()}")
    network = build_network(args.config_file)
    with tempfile.TemporaryDirectory() as tmp:
        program = export.export_program(network, *args.sizes[0])
        onnx_path = export.export_onnx(program, Path(tmp) / "model.onnx")
        onnx_network = export.OnnxNetwork(onnx_path, threads=args.threads)
        for height, width in args.sizes:
            images = export.example_images(network, height, width, batch=1)
            diffs = export.output_differences(network, {"onnx": onnx_network}, images)["onnx"]
            with torch.no_grad():
                eager = median_time(lambda x=images: network(x), args.runs)
            ort = median_time(lambda x=images: onnx_network(x), args.runs)
            label = f"{height}x{width}"
            print(
                f"{label:10s} wall: onnxruntime {ort[0]:7.3f} s  eager {eager[0]:7.3f} s  "
                f"ratio {ort[0] / eager[0]:.2f} | CPU: onnxruntime {ort[1]:7.3f} s  eager {eager[1]:7.3f} s  "
                f"ratio {ort[1] / eager[1]:.2f}"
            )
            print(
                f"{label} max |diff| onnxruntime vs eager: pred_logits {diffs['pred_logits']:.2e}, "
                f"pred_masks {diffs['pred_masks']:.2e}"
            )
    print(f"done; {load_note()}")


if __name__ == "__main__":
    main()
