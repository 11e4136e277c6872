"""imaging.analysis.likeness: structural likeness on real frames (the same set-up a frame apart vs
shot/reverse-shot set-ups that share a room's colours)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from imaging.analysis.likeness import likeness, structure
from tests.extract_helpers import LOOK_ALIKE, SAME_SETUP, SHOT_FRAMES, clip_rgb, reverse_angle


def _colour_likeness(a: np.ndarray, b: np.ndarray) -> float:
    """The colour-histogram test imaging.analysis.likeness used before issue 26 (6x6x6 CIELAB, intersection)."""

    def hist(rgb):
        lab = cv2.cvtColor(cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
        h = cv2.calcHist([lab], [0, 1, 2], None, [6] * 3, [0, 256] * 3).ravel()
        return h / h.sum()

    return float(np.minimum(hist(a), hist(b)).sum())


def test_near_duplicates_are_structural_on_real_frames(bikes_frames) -> None:
    shape = {i: structure(rgb) for i, rgb in bikes_frames.items()}
    for a, b in SAME_SETUP:
        assert likeness(shape[a], shape[b]) >= LOOK_ALIKE + 0.05, (a, b)
    for a, b in itertools.combinations(SHOT_FRAMES, 2):
        assert likeness(shape[a], shape[b]) <= LOOK_ALIKE - 0.4, (a, b)


def test_likeness_is_structural_on_real_frames() -> None:
    """A reverse angle or a close-up of the same room shares its colours (the old histogram test
    merged from 0.85) but not its structure; a moment later in one set-up, or the same shot
    mirrored, is the same picture."""
    f = clip_rgb("carphone_pristine.mp4", [25, 26, 27])
    wide = f[25]
    mirror = np.ascontiguousarray(wide[:, ::-1])
    reverse = reverse_angle(wide)
    close = reverse_angle(mirror)  # the same side, 1.6x closer
    assert _colour_likeness(wide, mirror) >= 0.95
    for other in (reverse, close):
        assert _colour_likeness(wide, other) >= 0.7
        assert likeness(structure(wide), structure(other)) <= LOOK_ALIKE - 0.3
    assert likeness(structure(wide), structure(mirror)) >= 0.99
    assert likeness(structure(f[25]), structure(f[26])) >= LOOK_ALIKE + 0.15
    assert likeness(structure(f[25]), structure(f[27])) >= LOOK_ALIKE + 0.1
    shots = clip_rgb("bikes.mp4", [20, 61, 111, 183, 213, 245])
    for a, b in itertools.combinations(shots.values(), 2):
        assert likeness(structure(a), structure(b)) <= 0.35
