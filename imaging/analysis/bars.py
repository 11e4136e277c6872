"""Letterbox / pillarbox detection: black bands along the edges that stay black in every frame.

The input is the element-wise maximum of many frames' luma (any resolution): a row or column that
never lights up across frames from different shots is a bar, not a dark scene.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from imaging.analysis.frame_metrics import Crop

BAR_LEVEL = 32  # full-range luma a bar pixel never exceeds (black plus compression noise; dark picture
# reaches this too, hence the symmetry rule)
MAX_LIT_FRACTION = 0.02  # a bar row/column may have this share of lit pixels (logos, noise)
MIN_KEEP = 0.4  # refuse crops that keep less than this share of a dimension (a dark video)
MARGIN = 0.004  # trim a little more, past the soft edge that compression leaves
SYMMETRY_TOLERANCE = 0.02  # opposite bars may differ by this share of the side (odd-pixel encodes)


def _edge_run(dark: np.ndarray) -> tuple[int, int]:
    """Lengths of the runs of True at the start and end of a 1-D bool array."""
    n = len(dark)
    head = n if dark.all() else int(np.argmin(dark))
    tail = n if dark.all() else int(np.argmin(dark[::-1]))
    return head, tail


def _symmetric(head: int, tail: int, n: int) -> tuple[int, int]:
    """The part of two opposite dark edges that is letterboxing: bars are centred (both edges, equal
    within SYMMETRY_TOLERANCE), so a dark band on one side only, or the excess of the wider one, is
    dark picture (a close-up's shadowed chin, a night sky), not a bar."""
    if head >= n:  # all dark: detect_bars refuses the crop below
        return head, tail
    tol = max(2, round(SYMMETRY_TOLERANCE * n))
    if abs(head - tail) <= tol:
        return head, tail
    m = min(head, tail)
    return m, m


def _lit_shares(image: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Share of pixels brighter than `level` per row and per column (float64): `(image > level)
    .mean(axis=1)` and `.mean(axis=0)`, bit for bit. A uint8 plane (every caller's) is counted with
    OpenCV, ~4x cheaper on a full-resolution frame (the finalists read several): exact integer
    counts divided by the same length, as numpy's mean does."""
    if image.dtype != np.uint8 or image.ndim != 2 or not image.size or level not in range(255):
        lit = image > level
        return lit.mean(axis=1), lit.mean(axis=0)
    h, w = image.shape
    _, lit8 = cv2.threshold(image, int(level), 1, cv2.THRESH_BINARY)
    rows = cv2.reduce(lit8, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(h)
    cols = cv2.reduce(lit8, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(w)
    return rows / float(w), cols / float(h)


def detect_bars(max_luma: np.ndarray, level: int = BAR_LEVEL) -> Crop:
    """The content region of a frame whose per-pixel maximum luma over many frames is `max_luma`."""
    h, w = max_luma.shape[:2]
    rows, cols = _lit_shares(max_luma, level)
    dark_rows = rows <= MAX_LIT_FRACTION
    dark_cols = cols <= MAX_LIT_FRACTION
    top, bottom = _edge_run(dark_rows)
    left, right = _edge_run(dark_cols)
    top, bottom = _symmetric(top, bottom, h)
    left, right = _symmetric(left, right, w)
    y0, y1 = top / h, 1.0 - bottom / h
    x0, x1 = left / w, 1.0 - right / w
    if y1 - y0 < MIN_KEEP:
        y0, y1 = 0.0, 1.0
    if x1 - x0 < MIN_KEEP:
        x0, x1 = 0.0, 1.0
    if y0 > 0:
        y0 = min(y0 + MARGIN, y1)
    if y1 < 1:
        y1 = max(y1 - MARGIN, y0)
    if x0 > 0:
        x0 = min(x0 + MARGIN, x1)
    if x1 < 1:
        x1 = max(x1 - MARGIN, x0)
    return Crop(round(x0, 5), round(y0, 5), round(x1, 5), round(y1, 5))


def keep_faces(
    crop: tuple[int, int, int, int], faces: Sequence[tuple[int, int, int, int]], shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """`crop` (x0, y0, x1, y1) grown so that no face box (x, y, w, h) is cut: bars never hold a face,
    so an edge found inside one was dark picture, not a bar (issue 26: a dark close-up lost its chin)."""
    x0, y0, x1, y1 = crop
    H, W = shape[:2]
    for x, y, w, h in faces:
        if x < x1 and x + w > x0 and y < y1 and y + h > y0:  # a face the crop shows at least in part
            x0, y0 = min(x0, max(0, x)), min(y0, max(0, y))
            x1, y1 = max(x1, min(W, x + w)), max(y1, min(H, y + h))
    return (x0 & ~1, y0 & ~1, min(W, x1 + (x1 & 1)), min(H, y1 + (y1 & 1)))
