"""Frontal face detection with the Haar cascade that ships inside the opencv-python(-headless) 4.x wheel.

Nothing is downloaded: the 5.0 wheels dropped the cascade XMLs, which is why pyproject pins cv2 < 5.
Detection runs on a copy scaled to at most `max_width` pixels (Haar at 640 px costs ~40 ms on a
1080p frame; full resolution costs several times more for no practical gain at thumbnail scale).
"""
from __future__ import annotations

import os
from typing import NamedTuple

import cv2
import numpy as np

from imaging.errors import ImagingError


class Box(NamedTuple):
    """A face rectangle in the pixel coordinates of the image that was passed in."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


_cascade: cv2.CascadeClassifier | None = None


def _classifier() -> cv2.CascadeClassifier:
    global _cascade
    if _cascade is None:
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise ImagingError(
                f"cannot load OpenCV's Haar face cascade at {path}; "
                "install opencv-python-headless 4.x (the 5.0 wheels do not ship it)"
            )
        _cascade = clf
    return _cascade


def to_gray(image: np.ndarray) -> np.ndarray:
    """Greyscale view of an RGB (H, W, 3) or already-grey (H, W) uint8 image."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def detect_faces(image: np.ndarray, max_width: int = 640) -> list[Box]:
    """Faces in an RGB or grey uint8 image, largest first, as boxes in the input's pixels."""
    gray = to_gray(image)
    h, w = gray.shape[:2]
    scale = min(1.0, max_width / float(w)) if w else 1.0
    small = gray if scale >= 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)),
                                                 interpolation=cv2.INTER_AREA)
    small = cv2.equalizeHist(small)
    min_side = max(20, int(min(small.shape[:2]) * 0.06))
    found = _classifier().detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = [
        Box(int(round(x / scale)), int(round(y / scale)), int(round(bw / scale)), int(round(bh / scale)))
        for (x, y, bw, bh) in (found if len(found) else [])
    ]
    boxes = [Box(b.x, b.y, min(b.w, w - b.x), min(b.h, h - b.y)) for b in boxes]
    return sorted(boxes, key=lambda b: (-b.area, b.x, b.y))
