"""Smart aspect-ratio crops: keep faces whole, else keep what is salient, put the subject on a third.

The crop is always the largest window of the exact ratio that fits the image (a smaller window
could never keep more faces), so only its position along one axis is chosen:

1. feasible positions keep *all* faces whole; if no position does, the largest face whole
   (other faces are then penalised for being cut); if even that face is bigger than the window,
   the window is centred on it;
2. among feasible positions, the score is the share of saliency inside the window (spectral
   residual saliency, Hou & Zhang 2007, computed with numpy's FFT on a 64 px copy, plus the face
   boxes) plus a bonus for the subject (faces' centre, else the saliency peak) sitting on a
   rule-of-thirds line, minus a penalty for any face the window cuts.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple, Sequence

import numpy as np

from imaging.analysis.faces import Box
from imaging.analysis.saliency import spectral_residual_saliency
from imaging.errors import ImagingError

THIRDS_WEIGHT = 0.25
CUT_FACE_PENALTY = 2.0


class Aspect(NamedTuple):
    """An aspect ratio in lowest terms (w:h), with the label the user wrote."""

    w: int
    h: int
    label: str


def parse_aspect(text: str) -> Aspect:
    """'16:9', '2x3' or '1.85:1' -> Aspect in lowest terms; anything else -> ImagingError."""
    raw = str(text).strip()
    parts = raw.replace("x", ":").replace("X", ":").split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        fw, fh = Fraction(parts[0].strip()), Fraction(parts[1].strip())
    except (ValueError, ZeroDivisionError):
        raise ImagingError(f"aspect {raw!r} is not W:H (e.g. 16:9, 2:3, 1.85:1)") from None
    if fw <= 0 or fh <= 0:
        raise ImagingError(f"aspect {raw!r} must have both sides > 0")
    ratio = fw / fh
    if not (Fraction(1, 10) <= ratio <= 10):
        raise ImagingError(f"aspect {raw!r} is more extreme than 10:1")
    return Aspect(ratio.numerator, ratio.denominator, raw)


def crop_size(width: int, height: int, aspect: Aspect) -> tuple[int, int]:
    """Largest (w, h) with w:h exactly aspect that fits in width x height."""
    n = min(width // aspect.w, height // aspect.h)
    if n < 1:
        raise ImagingError(f"a {width}x{height} image is too small for an exact {aspect.label} crop")
    return n * aspect.w, n * aspect.h


def smart_crop(
    rgb: np.ndarray,
    aspect: Aspect,
    faces: Sequence[Box] = (),
    saliency: np.ndarray | None = None,
) -> tuple[int, int, int, int]:
    """Crop box (x0, y0, x1, y1) in `rgb`'s pixels, exactly `aspect`, keeping faces whole when possible."""
    H, W = rgb.shape[:2]
    cw, ch = crop_size(W, H, aspect)
    faces = [Box(*f) for f in faces]
    if saliency is None:
        saliency = spectral_residual_saliency(rgb)
    if cw == W and ch == H:
        return (0, 0, W, H)
    horizontal = cw < W  # the window slides along x (else along y)
    length, window = (W, cw) if horizontal else (H, ch)
    # 1-D saliency profile along the free axis, resampled to source pixels, with faces added.
    prof_small = saliency.sum(axis=0 if horizontal else 1).astype(np.float64)
    prof = np.interp((np.arange(length) + 0.5) * len(prof_small) / length - 0.5, np.arange(len(prof_small)), prof_small)
    prof = prof / max(prof.sum(), 1e-12)
    spans = [(b.x, b.x + b.w) if horizontal else (b.y, b.y + b.h) for b in faces]
    if spans:
        face_prof = np.zeros(length)
        for (a, b_), f in zip(spans, faces):
            face_prof[max(0, a) : min(length, b_)] += f.area
        prof = 0.5 * prof + 0.5 * face_prof / face_prof.sum()
    csum = np.concatenate([[0.0], np.cumsum(prof)])
    starts = np.arange(0, length - window + 1)
    mass = csum[starts + window] - csum[starts]

    lo, hi = 0, length - window
    keep = []
    if spans:
        all_lo = max(0, max(b for _, b in spans) - window)
        all_hi = min(length - window, min(a for a, _ in spans))
        if all_lo <= all_hi:
            lo, hi, keep = all_lo, all_hi, list(range(len(spans)))
        else:
            a, b_ = spans[0]  # faces come largest first
            big_lo, big_hi = max(0, b_ - window), min(length - window, a)
            if big_lo <= big_hi:
                lo, hi, keep = big_lo, big_hi, [0]
            else:  # the face is larger than the window: centre on it
                start = int(np.clip(round((a + b_) / 2 - window / 2), 0, length - window))
                return _box(start, horizontal, cw, ch)
    # Subject position: centre of the kept faces, else the saliency peak (smoothed profile argmax).
    if keep:
        subject = (min(spans[i][0] for i in keep) + max(spans[i][1] for i in keep)) / 2.0
    else:
        smooth = np.convolve(prof, np.ones(max(1, length // 20)) / max(1, length // 20), mode="same")
        subject = float(np.argmax(smooth))
    cand = starts[lo : hi + 1]
    rel = (subject - cand) / window
    thirds = np.maximum(0.0, 1.0 - np.minimum(np.abs(rel - 1 / 3), np.abs(rel - 2 / 3)) * 6.0)
    score = mass[lo : hi + 1] + THIRDS_WEIGHT * thirds
    for i, (a, b_) in enumerate(spans):
        if i in keep:
            continue
        inside = np.clip(np.minimum(cand + window, b_) - np.maximum(cand, a), 0, None)
        cut = (inside > 0) & (inside < (b_ - a))
        score = score - CUT_FACE_PENALTY * cut
    # Ties resolve to the position nearest the centre, so results are stable and unsurprising.
    centre = (length - window) / 2.0
    order = np.lexsort((np.abs(cand - centre), -np.round(score, 9)))
    return _box(int(cand[order[0]]), horizontal, cw, ch)


def _box(start: int, horizontal: bool, cw: int, ch: int) -> tuple[int, int, int, int]:
    return (start, 0, start + cw, ch) if horizontal else (0, start, cw, start + ch)


def output_size(crop_w: int, aspect: Aspect, width: int | None, max_upscale: float) -> tuple[int, int, bool]:
    """Output (w, h) for a crop of width `crop_w`: exactly `aspect`, width rounded to a multiple of
    aspect.w, never more than `max_upscale` x the crop. Returns (w, h, limited_by_upscale)."""
    target = crop_w if width is None else width
    if target < 1:
        raise ImagingError(f"--width must be >= 1, got {width}")
    limit = crop_w * max_upscale
    limited = target > limit + 1e-9
    target = min(target, limit)  # type: ignore[assignment]  # int or float: only compared and divided
    n = max(1, int(round(target / aspect.w)))
    if n * aspect.w > limit + 1e-9:
        n = max(1, int(math.floor(limit / aspect.w)))
    return n * aspect.w, n * aspect.h, limited
