#!/usr/bin/env python
"""Run a trained model on images, folders, a video or a webcam and write the drawn predictions.

The official demo's command line::

    python tools/demo.py --config-file CONFIG --input photo.jpg "images/*.jpg" folder/ \
        --output out/ [--confidence-threshold 0.5] [--task panoptic|instance|semantic] \
        [--opts MODEL.WEIGHTS model_final.pth MODEL.DEVICE cuda]
    python tools/demo.py --config-file CONFIG --video-input clip.mp4 --output clip_pred.mp4 --opts ...
    python tools/demo.py --config-file CONFIG --webcam --output webcam.mp4 --opts ...

The drawing shows what the model produces: panoptic segments if panoptic inference is on, else
instances, else the semantic map (``--task`` forces one). Images are written as PNG (to the
``--output`` file, or into the ``--output`` folder under each input's name); videos as MP4.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
from collections.abc import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from maskformer.config import CfgNode, load_config
from maskformer.data.datasets.builtin import register_datasets
from maskformer.data.image_io import read_image
from maskformer.engine import Predictor
from maskformer.engine.visualize import TASKS, visualize_prediction

logger = logging.getLogger("maskformer.demo")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to the config file")
    parser.add_argument("--webcam", action="store_true", help="take frames from the webcam (device 0)")
    parser.add_argument("--video-input", help="path to a video file")
    parser.add_argument("--input", nargs="+", help="image files, glob patterns or folders")
    parser.add_argument(
        "--output",
        help="an image file (.png, .jpg: one input), an .mp4 file (video) or a folder; required: "
        "nothing is shown on screen",
    )
    parser.add_argument(
        "--confidence-threshold", type=float, default=0.5, help="minimum score of drawn instances"
    )
    parser.add_argument("--task", choices=list(TASKS), help="result to draw (default: by the output)")
    parser.add_argument("--with-input", action="store_true", help="put the input left of the drawing")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE config overrides")
    return parser


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    """The config file plus ``--opts``, frozen, with the datasets that give the class names registered."""
    cfg = load_config(args.config_file, args.opts)
    register_datasets(cfg)  # built-in splits and DATASETS.REGISTER entries
    return cfg


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files, the images inside folders (sorted) and glob matches, in the order given."""
    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(
                os.path.join(pattern, name)
                for name in os.listdir(pattern)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
        if not found:
            raise FileNotFoundError(f"--input {pattern!r} matches no file (nor images in a folder).")
        paths.extend(found)
    return paths


def image_output_paths(inputs: list[str], output: str) -> list[str]:
    """One output per input: ``output`` itself when it names an image file (one input only), else
    ``output/<input name>.png``."""
    if output.lower().endswith(IMAGE_EXTENSIONS):
        if len(inputs) != 1:
            raise ValueError(
                f"--output {output!r} is a file name but {len(inputs)} images were given; pass a folder."
            )
        return [output]
    os.makedirs(output, exist_ok=True)
    names = [os.path.splitext(os.path.basename(p))[0] + ".png" for p in inputs]
    if len(set(names)) != len(names):
        raise ValueError("Two inputs share a file name; write them to different --output folders.")
    return [os.path.join(output, name) for name in names]


def video_output_path(output: str, name: str) -> str:
    """``output`` when it names an MP4 file, else ``output/<video name>.mp4``."""
    if output.lower().endswith(".mp4"):
        return output
    if os.path.splitext(output)[1] and not os.path.isdir(output):
        raise ValueError(f"--output {output!r}: videos are written as .mp4 files (or into a folder).")
    os.makedirs(output, exist_ok=True)
    return os.path.join(output, os.path.splitext(os.path.basename(name))[0] + ".mp4")


def _write_image(path: str, rgb: np.ndarray) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write '{path}' (unknown image extension or unwritable folder).")


def run_on_images(
    predictor: Predictor, inputs: list[str], outputs: list[str], args: argparse.Namespace
) -> list[str]:
    """Predicts and draws every input image, ``TEST.IMS_PER_BATCH`` at a time; returns the outputs."""
    step = predictor.batch_size
    with tqdm(total=len(inputs), desc="images", unit="img") as bar:
        for start in range(0, len(inputs), step):
            images = [read_image(path, "RGB") for path in inputs[start : start + step]]
            results = predictor.predict_batch(images, format="RGB")
            for image, result, out in zip(images, results, outputs[start : start + step]):
                _write_image(out, _draw(image, result, predictor, args))
            bar.update(len(images))
    return outputs


def _draw(image_rgb: np.ndarray, result: dict, predictor: Predictor, args: argparse.Namespace) -> np.ndarray:
    return visualize_prediction(
        image_rgb, result, predictor.classes, args.task, args.confidence_threshold, args.with_input
    )


def fit_frame(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` on a white ``height`` x ``width`` frame (shrunk if larger): video frames keep one size
    although a semantic legend's width varies with the classes in view."""
    scale = min(1.0, height / image.shape[0], width / image.shape[1])
    if scale < 1.0:
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 255, np.uint8)
    frame[: image.shape[0], : image.shape[1]] = image
    return frame


def _frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def run_on_video(
    predictor: Predictor, args: argparse.Namespace, capture: cv2.VideoCapture, output: str
) -> str:
    """Predicts every frame of ``capture`` (BGR) and writes the drawings as an MP4; returns its path."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    writer = None
    try:
        for frame in tqdm(_frames(capture), total=total, desc="frames", unit="frame"):
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            drawing = _draw(rgb, predictor(frame, format="BGR"), predictor, args)
            if writer is None:
                height, width = drawing.shape[:2]
                writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise OSError(f"Could not open '{output}' for writing an MP4 video.")
            writer.write(cv2.cvtColor(fit_frame(drawing, height, width), cv2.COLOR_RGB2BGR))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"No frame could be read for {output}.")
    return output


def _open_video(args: argparse.Namespace) -> tuple[cv2.VideoCapture, str]:
    if args.webcam:
        return cv2.VideoCapture(0), "webcam"
    if not os.path.isfile(args.video_input):
        raise FileNotFoundError(f"--video-input '{args.video_input}' does not exist.")
    return cv2.VideoCapture(args.video_input), args.video_input


def main(argv: list[str] | None = None) -> list[str]:
    """Runs the demo; returns the written files."""
    parser = get_parser()
    args = parser.parse_args(argv)
    sources = [bool(args.input), bool(args.video_input), args.webcam]
    if sum(sources) != 1:
        parser.error("give exactly one of --input, --video-input and --webcam")
    if not args.output:
        parser.error("--output is required (a file or a folder): this tool does not open windows")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    if args.input:  # bad inputs fail before the model is built
        inputs = expand_inputs(args.input)
        outputs = image_output_paths(inputs, args.output)
        written = run_on_images(Predictor(setup_cfg(args)), inputs, outputs, args)
    else:
        capture, name = _open_video(args)
        output = video_output_path(args.output, name)
        written = [run_on_video(Predictor(setup_cfg(args)), args, capture, output)]
    more = " ..." if len(written) > 5 else ""
    logger.info("Wrote %d file(s): %s%s", len(written), ", ".join(written[:5]), more)
    return written


if __name__ == "__main__":
    main()
