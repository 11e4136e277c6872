"""Frontal face detection with the Haar cascade that ships inside the opencv-python(-headless) 4.x wheel.

Nothing is downloaded: the 5.0 wheels dropped the cascade XMLs, which is why pyproject pins cv2 < 5.
Detection runs on an equalised grey copy at most `max_width` pixels wide (full resolution costs
several times more for no practical gain at thumbnail scale), coarse to fine:

1. **Candidates**: a sparse scan keeping every raw cascade hit (no neighbour vote). Faces below two
   24 px windows are scanned at full size with a 1.2 scale step, starting 15% above the smallest
   face (a raw hit one step up nominates it; skipping the 24 px level saves a third of this
   pass); larger faces on 1/2 and 1/4 copies with a 1.1 step. Each band stays below scale 2
   (but the last, open-ended one on the smallest copy), where OpenCV moves the window 2 px at a
   time (above it 1 px, so large faces cost as much as small ones); the finer scale step on the
   copies makes up for their coarser positions.
2. **Confirmation**: around the candidates (one face size of margin, sizes 1/1.3x to 1.3x,
   overlapping regions of one octave merged) the old single-pass settings (scale step 1.1,
   5 neighbours) decide. Each region is resampled with its own pixel phase, so a few marginal
   faces flip either way, but recall and false positives match the exhaustive scan
   (`detect_faces_full_scan`, kept as the reference): tests/imaging/analysis/test_faces.py and
   `python bench/features.py --recall` (LFW, astronaut and carphone faces at 24-180 px of the
   640 px copy, and 96 clip frames without faces).

On bench/features.py's 1080p frames (640 px copy, this 2-core machine, p50) it needs half the
CPU time of the exhaustive scan (~67 vs ~131 ms; ~34 vs ~67 ms wall with OpenCV's 2 threads);
frames with large faces gain less, since the confirmation around a large face is a dense scan.
Measured and rejected: a 1.2 step on the copies (lost 16 of the 142 carphone faces the full scan
finds), a 1.25 step at full size (small faces), the alt/alt2 cascades (dearer per window; the
bundled wheel has no LBP cascade), no equalisation (no faster), skipping dark or flat frames
(equalised, the cascade still finds faces at a grey-level std of 0.6), a 480 px copy (loses faces
under ~9% of the frame height).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple, Sequence

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


WINDOW = 24  # training window of haarcascade_frontalface_default.xml: the smallest face it sees
COARSE_STEP = 1.2  # scale step of the candidate scan at full size (faces below 2 windows)
COARSE_STEP_SMALL = 1.1  # ... and on the 1/2, 1/4 copies (larger faces): see _candidates
COARSE_START = 1.15  # the candidate scan starts this much above the smallest face
CONFIRM_STEP = 1.1  # scale step and neighbour vote of the confirming scan (the old full-scan settings)
CONFIRM_NEIGHBOURS = 5
CONFIRM_MARGIN = 1.0  # context around a candidate, in face sizes
CONFIRM_RANGE = 1.3  # sizes confirmed around a candidate: size / 1.3 .. size * 1.3

_cascade: cv2.CascadeClassifier | None = None


def cascade_path(name: str) -> str:
    """The path of one of the Haar cascades the opencv-python wheel ships (never a download)."""
    return os.path.join(cv2.data.haarcascades, name)  # type: ignore[attr-defined]  # absent from cv2's stubs


def _classifier() -> cv2.CascadeClassifier:
    global _cascade
    if _cascade is None:
        path = cascade_path("haarcascade_frontalface_default.xml")
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


def _prepare(image: np.ndarray, max_width: int) -> tuple[np.ndarray, float, int]:
    """Equalised grey copy at most `max_width` wide, its scale, and the smallest face size asked for."""
    gray = to_gray(image)
    h, w = gray.shape[:2]
    scale = min(1.0, max_width / float(w)) if w else 1.0
    small = (
        gray if scale >= 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    )
    small = cv2.equalizeHist(small)
    return small, scale, max(20, int(min(small.shape[:2]) * 0.06))


def _boxes(found, scale: float, shape: tuple[int, ...]) -> list[Box]:
    h, w = shape[:2]
    boxes = [
        Box(int(round(x / scale)), int(round(y / scale)), int(round(bw / scale)), int(round(bh / scale)))
        for (x, y, bw, bh) in found
    ]
    boxes = [Box(b.x, b.y, min(b.w, w - b.x), min(b.h, h - b.y)) for b in boxes]
    return sorted(boxes, key=lambda b: (-b.area, b.x, b.y))


def detect_faces(image: np.ndarray, max_width: int = 640) -> list[Box]:
    """Faces in an RGB or grey uint8 image, largest first, as boxes in the input's pixels.

    Two passes (candidates, then confirmation around them; see the module docstring), ~1/3 the
    cost of `detect_faces_full_scan` with the same recall.
    """
    small, scale, min_side = _prepare(image, max_width)
    found = _confirm(small, _candidates(small, max(WINDOW, min_side)), min_side)
    return _boxes(found, scale, image.shape)


def detect_faces_full_scan(image: np.ndarray, max_width: int = 640) -> list[Box]:
    """The single exhaustive scan (scale step 1.1, 5 neighbours) that `detect_faces` replaced.

    Kept as the reference the two-pass detector is tested and benchmarked against.
    """
    small, scale, min_side = _prepare(image, max_width)
    found = _classifier().detectMultiScale(
        small, scaleFactor=CONFIRM_STEP, minNeighbors=CONFIRM_NEIGHBOURS, minSize=(min_side, min_side)
    )
    return _boxes(found if len(found) else [], scale, image.shape)


def _candidates(gray: np.ndarray, min_face: int) -> np.ndarray:
    """Raw cascade hits (x, y, w, h) in `gray`'s pixels, one band of sizes per 2x downscale.

    Band d (d = 1, 2, 4, ...) scans windows of 24..47 px on a 1/d copy, i.e. faces of 24d..48d px,
    always below scale 2 where OpenCV keeps its 2 px step; the last band (short side < 96 px) is
    open-ended. Sizes below `min_face * COARSE_START` are not scanned. On the copies a 2 px step
    is 4d px of `gray`, coarser than the exhaustive scan's 1 px step at those scales (which found
    more large faces than this band scheme does with the 1.2 step: 126 vs 142 of 147 carphone
    faces), hence the finer 1.1 scale step there.
    """
    clf = _classifier()
    out: list[np.ndarray] = []
    img, d = gray, 1
    while min(img.shape[:2]) >= WINDOW:
        last = min(img.shape[:2]) < 4 * WINDOW
        lo = max(WINDOW, math.ceil(COARSE_START * min_face / d))
        hi = min(img.shape[:2]) if last else 2 * WINDOW - 1
        if lo <= hi:
            hits = clf.detectMultiScale(
                img,
                scaleFactor=COARSE_STEP if d == 1 else COARSE_STEP_SMALL,
                minNeighbors=0,
                minSize=(lo, lo),
                maxSize=(hi, hi),
            )
            if len(hits):
                out.append(np.asarray(hits, np.int64).reshape(-1, 4) * d)
        if last:
            break
        img, d = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA), d * 2
    # sorted and unique, so the regions do not depend on the order OpenCV's threads report hits in
    return sorted_unique(np.concatenate(out)) if out else np.zeros((0, 4), np.int64)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """`np.unique(a)` of a 1-D array, or `np.unique(a, axis=0)` of a 2-D one (rows in lexicographic
    order), the same values and order without np.unique: its first call imports numpy.ma (~15 ms,
    1% of a quick extract), which nothing else here needs."""
    if a.ndim == 1:
        s = np.sort(a)
        keep = np.ones(len(s), bool)
        keep[1:] = s[1:] != s[:-1]
        return s[keep]
    s = a[np.lexsort(a.T[::-1])]
    keep = np.ones(len(s), bool)
    keep[1:] = (s[1:] != s[:-1]).any(axis=1)
    return s[keep]


def _regions(cands: np.ndarray, shape: tuple[int, ...]) -> list[tuple[int, int, int, int, int, int]]:
    """Candidates grown by the margin and merged while they overlap: (x0, y0, x1, y1, min, max size).

    Merged per octave of size only: a large false candidate (a shirt, a flag) next to a small face
    would otherwise turn its region into a near full scan, small sizes over a large area.
    """
    H, W = shape[:2]
    x, y, s = cands[:, 0], cands[:, 1], cands[:, 2]
    m = np.round(CONFIRM_MARGIN * s).astype(np.int64)
    boxes = np.stack(
        [
            np.maximum(0, x - m),
            np.maximum(0, y - m),
            np.minimum(W, x + s + m),
            np.minimum(H, y + s + m),
            np.floor(s / CONFIRM_RANGE).astype(np.int64),
            np.ceil(s * CONFIRM_RANGE).astype(np.int64),
        ],
        axis=1,
    )
    octave = np.floor(np.log2(s / WINDOW)).astype(np.int64)
    out = []
    for o in sorted_unique(octave):
        r = boxes[octave == o]
        while len(r) > 1:
            over = (
                (r[:, None, 0] < r[None, :, 2])
                & (r[None, :, 0] < r[:, None, 2])
                & (r[:, None, 1] < r[None, :, 3])
                & (r[None, :, 1] < r[:, None, 3])
            )
            label = np.arange(len(r))
            while True:  # connected components: every box takes the smallest label it touches
                new = np.where(over, label[None, :], len(r)).min(axis=1)
                if np.array_equal(new, label):
                    break
                label = new
            groups = sorted_unique(label)
            if len(groups) == len(r):
                break
            r = np.stack(
                [
                    np.concatenate(
                        [
                            r[label == g, :2].min(axis=0),
                            r[label == g, 2:4].max(axis=0),
                            [r[label == g, 4].min(), r[label == g, 5].max()],
                        ]
                    )
                    for g in groups
                ]
            )
        out += [tuple(int(v) for v in row) for row in r]  # type: ignore[misc]  # rows of six ints
    return out  # type: ignore[return-value]


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(a[2] * a[3] + b[2] * b[3] - ix * iy)


def _confirm(gray: np.ndarray, cands: np.ndarray, min_side: int) -> list[tuple[int, int, int, int]]:
    """The full-quality scan, only inside the candidate regions.

    Regions of neighbouring octaves may overlap; a face confirmed in two of them (IoU > 0.3) is
    kept once, the larger box.
    """
    if not len(cands):
        return []
    clf = _classifier()
    found: list[tuple[int, int, int, int, int]] = []
    for k, (x0, y0, x1, y1, lo, hi) in enumerate(_regions(cands, gray.shape)):
        lo = max(min_side, lo)
        if min(x1 - x0, y1 - y0) < max(lo, WINDOW):
            continue
        hits = clf.detectMultiScale(
            gray[y0:y1, x0:x1],
            scaleFactor=CONFIRM_STEP,
            minNeighbors=CONFIRM_NEIGHBOURS,
            minSize=(lo, lo),
            maxSize=(hi, hi),
        )
        found += [(x0 + int(bx), y0 + int(by), int(bw), int(bh), k) for bx, by, bw, bh in hits]
    kept: list[tuple[int, int, int, int, int]] = []
    for b in sorted(found, key=lambda b: (-b[2] * b[3], b[0], b[1], b[4])):
        if all(k[4] == b[4] or _iou(b, k) <= 0.3 for k in kept):
            kept.append(b)
    return [b[:4] for b in kept]


CONFIRM_CASCADE = "haarcascade_frontalface_alt2.xml"
_confirmer: cv2.CascadeClassifier | None = None


def confirm_faces(image: np.ndarray, faces: Sequence[Box], max_side: int = 160) -> list[Box]:
    """The faces a second, differently trained cascade (OpenCV's alt2) also sees around each box.

    A face `detect_faces` reports on texture (a bike lock's coils, an arm) is seldom a face to a
    second cascade; a real face is. Each box is re-examined with half a face of margin on a copy at
    most `max_side` px (cheap: one small region per face). Used where a false face costs most: the
    candidates extract writes, whose faces steer every later crop and title.
    """
    global _confirmer
    if not faces:
        return []
    if _confirmer is None:
        clf = cv2.CascadeClassifier(cascade_path(CONFIRM_CASCADE))
        if clf.empty():
            return list(faces)  # no second opinion available: keep what the first cascade found
        _confirmer = clf
    gray = to_gray(image)
    H, W = gray.shape[:2]
    kept = []
    for b in faces:
        m = b.w // 2
        x0, y0, x1, y1 = max(0, b.x - m), max(0, b.y - m), min(W, b.x + b.w + m), min(H, b.y + b.h + m)
        region = cv2.equalizeHist(np.ascontiguousarray(gray[y0:y1, x0:x1]))
        s = min(1.0, max_side / float(max(region.shape)))
        if s < 1.0:
            region = cv2.resize(
                region,
                (max(1, round(region.shape[1] * s)), max(1, round(region.shape[0] * s))),
                interpolation=cv2.INTER_AREA,
            )
        side = max(20, int(b.w * s / 1.5))
        if min(region.shape[:2]) >= side and len(_confirmer.detectMultiScale(region, 1.1, 3, minSize=(side, side))):
            kept.append(b)
    return kept
