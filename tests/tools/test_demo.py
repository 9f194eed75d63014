"""``tools/demo.py``: the command on a real photograph and a generated video, inputs and outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import imgviz
import numpy as np
import pytest

from tests.helpers.paths import REPO
from tests.helpers.tiny_m2f_shapes import CONFIG, TINY_OPTS, save_tiny_weights
from tools import demo


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.pth")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """The real photograph imgviz ships (PASCAL VOC, 375 x 500), as a JPEG file."""
    path = tmp_path_factory.mktemp("photos") / "voc.jpg"
    cv2.imwrite(str(path), imgviz.data.voc()["rgb"][:, :, ::-1])
    return path


def _command(weights: str, *args: str) -> list[str]:
    return [
        sys.executable, "tools/demo.py", "--config-file", str(CONFIG), *args,
        "--opts", "MODEL.WEIGHTS", weights, *TINY_OPTS,
    ]  # fmt: skip


def _run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MASKFORMER_DATASETS=str(tmp_path))
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_demo_command_on_the_voc_photograph(weights, photo, tmp_path):
    out = tmp_path / "out" / "voc_pred.png"
    done = _run(_command(weights, "--input", str(photo), "--output", str(out)), tmp_path)
    assert "images: 100%" in done.stderr and "Wrote 1 file(s)" in done.stderr
    drawing = cv2.imread(str(out))
    assert drawing.shape == (384, 512, 3)  # 375 x 500 upscaled to a 512 long side
    photo_up = cv2.resize(cv2.imread(str(photo)), (512, 384), interpolation=cv2.INTER_NEAREST)
    assert np.abs(drawing.astype(int) - photo_up).mean() > 10  # segments are painted over it


def _write_video(path: Path, frames: int = 4) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (64, 48))
    for index in range(frames):
        frame = np.full((48, 64, 3), 40, np.uint8)
        cv2.circle(frame, (12 + 10 * index, 24), 9, (0, 0, 230), -1)
        writer.write(frame)
    writer.release()


@pytest.mark.slow
def test_demo_command_on_a_generated_video(weights, tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    output = str(tmp_path / "out") + os.sep  # a folder: the video keeps its name
    done = _run(_command(weights, "--video-input", str(video), "--output", output), tmp_path)
    assert "frames: 100%" in done.stderr
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    assert len(frames) == 4 and frames[0].shape == (384, 512, 3)  # 48 x 64 upscaled 8x
    assert frames[0].std() > 5  # a drawing, not a blank frame


def test_folders_globs_tasks_and_side_by_side(weights, photo, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rgb = cv2.imread(str(photo))
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(folder / name), cv2.resize(rgb, (100, 75)))
    (folder / "notes.txt").write_text("not an image")
    opts = ["--opts", "MODEL.WEIGHTS", weights, *TINY_OPTS, "TEST.IMS_PER_BATCH", "2"]
    common = ["--config-file", str(CONFIG), "--output", str(tmp_path / "out")]
    written = demo.main([*common, "--input", str(folder), *opts])
    assert [Path(p).name for p in written] == ["a.png", "b.png"]
    semantic = ["--task", "semantic", "--with-input"]
    written = demo.main([*common, "--input", str(folder / "*.jpg"), *semantic, *opts])
    assert len(written) == 1
    drawing = cv2.imread(written[0])
    assert drawing.shape[0] == 384 and drawing.shape[1] > 512 + 6 + 512  # input | map | legend


def test_command_line_errors(weights, photo, tmp_path):
    base = ["--config-file", str(CONFIG), "--opts", "MODEL.WEIGHTS", weights]
    with pytest.raises(SystemExit):
        demo.main(["--input", str(photo), *base])  # no --output
    with pytest.raises(SystemExit):
        demo.main(["--input", str(photo), "--webcam", "--output", str(tmp_path), *base])
    with pytest.raises(FileNotFoundError, match="matches no file"):
        demo.main(["--input", str(tmp_path / "*.jpg"), "--output", str(tmp_path), *base])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        demo.main(["--video-input", str(tmp_path / "none.mp4"), "--output", str(tmp_path), *base])
    with pytest.raises(ValueError, match="is a file name but 2 images"):
        demo.main(["--input", str(photo), str(photo), "--output", str(tmp_path / "x.png"), *base])
    _write_video(tmp_path / "clip.mp4", frames=1)
    with pytest.raises(ValueError, match="videos are written as .mp4"):
        demo.main(["--video-input", str(tmp_path / "clip.mp4"), "--output", str(tmp_path / "x.avi"), *base])


def test_fit_frame_keeps_one_video_size():
    frame = demo.fit_frame(np.zeros((10, 40, 3), np.uint8), 20, 20)  # too wide: halved
    assert frame.shape == (20, 20, 3) and (frame[:5] == 0).all() and (frame[5:] == 255).all()
    frame = demo.fit_frame(np.zeros((10, 10, 3), np.uint8), 20, 20)
    assert (frame[:10, :10] == 0).all() and (frame[10:] == 255).all() and (frame[:, 10:] == 255).all()
