"""Perceptual near-duplicates: two pictures a viewer would call the same, even if things moved a little.

The frame signature (imaging.frame_metrics) compares pixels in place, so the same set-up a moment
later (a pedestrian walked through, the bus roof slid down the frame, the camera drifted) differs
"enough" and used to survive as two candidates. What stays is the colour make-up of the picture:
`colour_histogram` is a 6x6x6 CIELAB histogram of a 64 px copy (position-free), and two pictures
look alike when their histograms intersect by at least LOOK_ALIKE. Measured on bikes.mp4's
candidates: pairs from the same set-up 0.915-0.919 (the bike by the wall, the bus roof, the
cyclist), pairs from different shots at most 0.63; tests/test_imaging_artwork.py pins both.
"""
from __future__ import annotations

import cv2
import numpy as np

PROXY_SIZE = (64, 36)
BINS = 6
LOOK_ALIKE = 0.85  # histogram intersection (0..1) from which two pictures count as one


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised CIELAB histogram (BINS^3 floats summing to 1) of an RGB uint8 image."""
    small = cv2.resize(np.ascontiguousarray(rgb), PROXY_SIZE, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    hist = cv2.calcHist([lab], [0, 1, 2], None, [BINS] * 3, [0, 256] * 3).ravel()
    return hist / max(float(hist.sum()), 1.0)


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection of two colour_histogram results: 1 = the same colours in the same amounts."""
    return float(np.minimum(a, b).sum())


def look_alike(a: np.ndarray, b: np.ndarray, threshold: float = LOOK_ALIKE) -> bool:
    return likeness(a, b) >= threshold
