"""Letterbox / pillarbox detection: black bands along the edges that stay black in every frame.

The input is the element-wise maximum of many frames' luma (any resolution): a row or column that
never lights up across frames from different shots is a bar, not a dark scene.
"""
from __future__ import annotations

import numpy as np

from imaging.frame_metrics import Crop

BAR_LEVEL = 40  # full-range luma a bar pixel never exceeds (black plus compression noise)
MAX_LIT_FRACTION = 0.02  # a bar row/column may have this share of lit pixels (logos, noise)
MIN_KEEP = 0.4  # refuse crops that keep less than this share of a dimension (a dark video)
MARGIN = 0.004  # trim a little more, past the soft edge that compression leaves


def _edge_run(dark: np.ndarray) -> tuple[int, int]:
    """Lengths of the runs of True at the start and end of a 1-D bool array."""
    n = len(dark)
    head = n if dark.all() else int(np.argmin(dark))
    tail = n if dark.all() else int(np.argmin(dark[::-1]))
    return head, tail


def detect_bars(max_luma: np.ndarray, level: int = BAR_LEVEL) -> Crop:
    """The content region of a frame whose per-pixel maximum luma over many frames is `max_luma`."""
    h, w = max_luma.shape[:2]
    lit = max_luma > level
    dark_rows = lit.mean(axis=1) <= MAX_LIT_FRACTION
    dark_cols = lit.mean(axis=0) <= MAX_LIT_FRACTION
    top, bottom = _edge_run(dark_rows)
    left, right = _edge_run(dark_cols)
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
