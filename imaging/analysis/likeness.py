"""Perceptual near-duplicates by structure: two pictures a viewer would call the same, even if things
moved a little, and never two set-ups that merely share a room's colours.

The frame signature (imaging.analysis.frame_metrics) compares pixels in place at 32x18; a colour histogram
(what this module used before) is position-free, so it called every shot of one room "the same
picture": shot/reverse-shot set-ups and a wide shot against its close-up share their colours and
were merged (issue 26: a four-set-up dialogue scene gave 2 candidates of 4 asked). What a viewer
compares is the layout of light and dark: `structure` is a 64x36 grey copy blurred by one proxy
pixel (tolerant to a few pixels of motion, noise and compression), and `likeness` is its SSIM
(Wang et al. 2004, 1.5 px Gaussian windows), 1 = the same picture, taken as the better of the
frame as is and mirrored (trailers and compilations flip shots). Measured on real frames
(tests/imaging/analysis/test_likeness.py): a carphone frame against a
reverse angle of it (mirrored and 1.6x closer: the same colours, histogram intersection >= 0.7)
<= 0.45; different bikes.mp4 shots <= 0.35; one set-up a frame later >= 0.8; a character that
changed pose in a static animated shot 0.35-0.87 (different moments, different candidates).
"""

from __future__ import annotations

import cv2
import numpy as np

PROXY_SIZE = (64, 36)
BLUR_SIGMA = 1.0  # proxy pixels: small motion and noise do not count
WINDOW_SIGMA = 1.5  # SSIM's local windows
LOOK_ALIKE = 0.75  # likeness (SSIM, -1..1) from which two pictures count as one
_C1, _C2 = 0.01**2, 0.03**2


def structure(rgb: np.ndarray) -> np.ndarray:
    """The small blurred grey copy (float32 0..1, 36x64) that `likeness` compares; any aspect ratio
    is squeezed to 64x36 (crops of one video differ only by their bars)."""
    img = np.ascontiguousarray(rgb)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    small = cv2.resize(grey, PROXY_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
    return cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two `structure` results, the better of `b` as is and mirrored (a flipped copy
    of a shot is the same picture to a viewer): 1 = the same picture, ~0 = unrelated layouts."""
    return max(_ssim(a, b), _ssim(a, np.ascontiguousarray(b[:, ::-1])))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), WINDOW_SIGMA)

    mu1, mu2 = blur(a), blur(b)
    s11 = blur(a * a) - mu1 * mu1
    s22 = blur(b * b) - mu2 * mu2
    s12 = blur(a * b) - mu1 * mu2
    ssim = ((2 * mu1 * mu2 + _C1) * (2 * s12 + _C2)) / ((mu1 * mu1 + mu2 * mu2 + _C1) * (s11 + s22 + _C2))
    return float(ssim.mean())


def look_alike(a: np.ndarray, b: np.ndarray, threshold: float = LOOK_ALIKE) -> bool:
    return likeness(a, b) >= threshold
