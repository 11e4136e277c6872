"""What an editor rejects or rewards in a finalist frame, beyond the proxy's quality score.

Measured only on the short list of finalists (full-resolution RGB, bars cropped, faces known), so the
per-frame pass stays cheap. Each signal is a number in the manifest (`metrics`) and a reason:

* **eyes** (Haar `haarcascade_eye_tree_eyeglasses.xml` and `haarcascade_eye.xml`, both in OpenCV
  4.x's wheel): on the largest face, when it is at least `EYE_MIN_FACE` px wide, the sides of the
  face on which both cascades find an eye. They are trained on open eyes; each alone still finds
  one eye of a blink now and then (carphone's blink, frames 41-44, before and after re-encoding),
  both together did not. Fewer than two on such a face, on footage where other finalists show two:
  `eyes_closed` (rejected; carphone's blink, frame 42, shows one). Two open eyes: rewarded.
* **subject sharpness**: variance of the Laplacian on the subject (the largest face, else the
  salient region), on a grey copy of fixed size, so a motion-blurred person is caught even when the
  background is sharp. Below `SUBJECT_BLUR`: `subject_blurred` (rejected).
* **saliency** (spectral residual, Hou & Zhang 2007, on a 64 px copy): `subject_clarity` is the share
  of saliency held by the most salient 10% of the picture; a cluttered frame with no clear subject
  spreads it thin (~0.2), a clear subject on a plain ground concentrates it (>= 0.35). It also
  locates the subject for the sharpness test and for title plates (imaging.artwork.title).
* **blockiness**: mean luma step across 8 px block edges over the mean step anywhere (1 = none);
  a warning when the set's median is >= `BLOCKY`: carphone_distorted.mp4's K=4 set 1.18-1.44
  (median 1.23), the pristine original 1.01-1.03, bikes.mp4 0.98-1.05; the test suite's synthetic
  blocks on a 12/24 px grid 1.12. A rejection (`blocky`) only when another finalist of the video
  is clean (`judge_damage`): a damaged stretch of good footage loses to its clean frames, while a
  clip damaged throughout has no better frame to offer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from imaging.analysis.faces import Box, cascade_path, to_gray
from imaging.analysis.saliency import spectral_residual_saliency

EYE_CASCADES = ("haarcascade_eye_tree_eyeglasses.xml", "haarcascade_eye.xml")
EYE_MIN_FACE = 40  # px: smaller faces are not judged for open eyes (too few pixels per eye)
EYE_FACE_SIDE = 160  # the face is resampled to this width before looking for eyes
SUBJECT_SIDE = 96  # subject crops are resampled to this size before measuring sharpness
SUBJECT_SCALE = 600.0  # Laplacian variance (0..255 luma, 96 px crop) giving sharpness 1 - 1/e
SUBJECT_BLUR = 0.4  # subject sharpness under this (Laplacian variance ~300): motion-blurred / out-of-focus subject
SALIENCY_SIDE = 64
CLEAR_SUBJECT = 0.35  # subject_clarity from which a subject counts as clear
BLOCKY = 1.15  # median blockiness of a set from which the clip is reported as damaged
# a finalist this blocky is rejected (`blocky`) when another finalist of the video is clean (under
# CLEAN_BLOCKS): an undamaged frame of the footage exists, so a smeared, blocky face need not be shown.
# Clean footage reads 0.96-1.075 (carphone_pristine.mp4, every frame; bikes.mp4 0.98-1.05), the
# damaged encode 1.06-1.43 (carphone_distorted.mp4, every frame): on that clip alone nothing is clean,
# nothing is rejected, and the set carries the damage warning instead.
CLEAN_BLOCKS = 1.05
# ... and only when its block edges step this many grey levels more than the picture does elsewhere:
# visible damage. carphone_distorted.mp4 0.34-2.38 (median 0.87, 10th percentile 0.6), its original
# <= 0.54, bikes.mp4 <= 0.42 (its first keyframe, ratio 1.28, 0.29), synthetic gradients at crf 18 ~0.2.
BLOCK_EXCESS = 0.6

_eyes: list[cv2.CascadeClassifier] | None = None


def _eye_cascades() -> list[cv2.CascadeClassifier]:
    global _eyes
    if _eyes is None:
        found = [cv2.CascadeClassifier(cascade_path(n)) for n in EYE_CASCADES]
        _eyes = [c for c in found if not c.empty()]
    return _eyes


def open_eyes(image: np.ndarray, face: Box) -> int | None:
    """Open eyes (0, 1 or 2) found on `face` in an RGB or grey image; None when the face is too small
    to judge (or no eye cascade is available)."""
    cascades = _eye_cascades()
    if face.w < EYE_MIN_FACE or not cascades:
        return None
    gray = to_gray(image)
    H, W = gray.shape[:2]
    # eyes sit in the upper 60% of a Haar face box, inside its middle 90% of width
    x0, x1 = max(0, face.x), min(W, face.x + face.w)
    y0, y1 = max(0, face.y + face.h // 8), min(H, face.y + int(face.h * 0.62))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = gray[y0:y1, x0:x1]
    s = EYE_FACE_SIDE / float(x1 - x0)
    region = cv2.resize(
        region,
        (EYE_FACE_SIDE, max(8, round((y1 - y0) * s))),
        interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA,
    )
    region = cv2.equalizeHist(region)
    side = EYE_FACE_SIDE // 9
    seen = 2
    for clf in cascades:  # both cascades must see an eye on each side: either alone half-sees a blink
        hits = clf.detectMultiScale(region, 1.1, 3, minSize=(side, side), maxSize=(EYE_FACE_SIDE // 2,) * 2)
        # one eye per half of the face: two hits on one side are one eye found twice
        seen = min(seen, len({int(x + w / 2 >= EYE_FACE_SIDE / 2) for x, y, w, h in hits}))
        if seen == 0:
            break
    return seen


BLOCK_WINDOW = 512  # blockiness reads a centred window at most this big (cost bounded at any size)


def block_steps(frame: np.ndarray) -> tuple[float, float]:
    """(ratio, excess) of the mean luma step across 8 px block edges against the mean step
    everywhere: ratio 1 / excess 0 grey levels = no block artefacts. On an uncropped decoded frame
    (its Y plane or RGB), where the codec's blocks start at 0, read in a centred window aligned to
    the block grid. The ratio alone overstates invisible blocks on smooth pictures (a synthetic
    gradient at crf 18: 1.16 with 0.2 grey levels of excess); the excess says whether one can see them."""
    g = to_gray(np.ascontiguousarray(frame)) if frame.ndim == 3 else frame
    h, w = g.shape[:2]
    y0, x0 = max(0, (h - BLOCK_WINDOW) // 2) & ~7, max(0, (w - BLOCK_WINDOW) // 2) & ~7
    g = g[y0 : y0 + BLOCK_WINDOW, x0 : x0 + BLOCK_WINDOW].astype(np.float32)
    dx, dy = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    if dx.shape[1] < 16 or dy.shape[0] < 16:
        return 1.0, 0.0
    ex, ey, mx, my = float(dx[:, 7::8].mean()), float(dy[7::8].mean()), float(dx.mean()), float(dy.mean())
    return (ex / (mx + 1e-3) + ey / (my + 1e-3)) / 2, (ex - mx + ey - my) / 2


def blockiness(frame: np.ndarray) -> float:
    """The ratio of `block_steps` (1: no block artefacts)."""
    return block_steps(frame)[0]


def saliency(rgb: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (imaging.analysis.saliency) on a SALIENCY_SIDE px copy, edges zeroed: the
    FFT's wrap-around lights them up."""
    sal = spectral_residual_saliency(np.ascontiguousarray(rgb), SALIENCY_SIDE).copy()
    border = max(1, SALIENCY_SIDE // 32)
    sal[:border], sal[-border:], sal[:, :border], sal[:, -border:] = 0, 0, 0, 0
    total = float(sal.sum())
    return sal / total if total > 0 else np.full_like(sal, 1.0 / sal.size)


def quantile(values: np.ndarray, q: float) -> np.floating:
    """`np.quantile(values, q)` (its default 'linear' method, a Python float `q`), bit for bit, for
    finite float arrays: the two neighbours partitioned out and interpolated with numpy's own
    arithmetic (`_lerp`). Why not np.quantile: it calls np.unique, whose first call imports
    numpy.ma (~15 ms, 1% of a quick extract) for nothing else."""
    flat = np.asarray(values).ravel()
    if flat.dtype.kind != "f" or not np.isfinite(flat).all():
        return np.quantile(values, q)
    n = flat.size
    v = (n - 1) * q
    if v >= n - 1:
        return flat.max()
    lo = math.floor(v)
    part = np.partition(flat, (lo, lo + 1))
    a, b = part[lo], part[lo + 1]
    gamma = v - lo
    d = b - a
    return b - d * (1 - gamma) if gamma >= 0.5 else a + d * gamma


def subject_box(sal: np.ndarray, shape: tuple[int, ...]) -> Box:
    """Bounding box (in an image of `shape`) of the most salient 10% of the map."""
    thr = quantile(sal, 0.9)
    ys, xs = np.nonzero(sal >= thr)
    H, W = shape[:2]
    sy, sx = H / sal.shape[0], W / sal.shape[1]
    x0, x1 = int(xs.min() * sx), int(math.ceil((xs.max() + 1) * sx))
    y0, y1 = int(ys.min() * sy), int(math.ceil((ys.max() + 1) * sy))
    return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def sharpness_in(image: np.ndarray, box: Box) -> float:
    """0..1 sharpness of `box` (Laplacian variance on a SUBJECT_SIDE px grey copy of it)."""
    gray = to_gray(image)
    H, W = gray.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(W, box.x + box.w), min(H, box.y + box.h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 1.0
    crop = gray[y0:y1, x0:x1]
    s = SUBJECT_SIDE / float(max(crop.shape))
    crop = cv2.resize(
        crop,
        (max(4, round(crop.shape[1] * s)), max(4, round(crop.shape[0] * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
    )
    var = float(cv2.Laplacian(crop, cv2.CV_32F, ksize=3).var())
    return float(1.0 - math.exp(-var / SUBJECT_SCALE))


@dataclass
class Appeal:
    """An editor's reading of one finalist: numbers for the manifest, and what rejects it."""

    eyes: int | None = None  # open eyes on the largest face (None: no face large enough to judge)
    subject_sharpness: float = 1.0
    subject_clarity: float = 0.0
    subject: Box | None = None  # the salient region, in the image's pixels
    blockiness: float = 1.0
    block_excess: float = 0.0  # grey levels (block_steps)
    flaws: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        out = {
            "subject_sharpness": round(self.subject_sharpness, 4),
            "subject_clarity": round(self.subject_clarity, 4),
            "blockiness": round(self.blockiness, 3),
            "block_excess": round(self.block_excess, 2),
        }
        if self.eyes is not None:
            out["open_eyes"] = self.eyes
        return out

    @property
    def bonus(self) -> float:
        """-0.1..+0.1: open eyes and a clear subject win, a subject lost in clutter loses."""
        b = 0.05 if self.eyes == 2 else 0.0
        b += 0.05 * min(1.0, max(-1.0, (self.subject_clarity - CLEAR_SUBJECT) / 0.15))
        return b


def judge_eyes(appeals: list[Appeal]) -> None:
    """Mark `eyes_closed` on finalists whose face shows fewer than two open eyes, but only when the
    eye cascades do see two open eyes on some finalist of the same video: on footage where they
    never do (heavy compression, small faces, sunglasses) the signal says nothing."""
    if any(a.eyes == 2 for a in appeals):
        for a in appeals:
            if a.eyes is not None and a.eyes < 2 and "eyes_closed" not in a.flaws:
                a.flaws.append("eyes_closed")


def judge_damage(appeals: list[Appeal]) -> None:
    """Mark `blocky` on finalists with visible compression damage (blockiness >= BLOCKY with
    block_excess >= BLOCK_EXCESS) when another finalist of the same video is clean (blockiness <
    CLEAN_BLOCKS): a stretch of damage inside good footage (a broken-up stream, a bad splice) loses
    to the clean frames; a clip damaged throughout keeps its least bad frames and is reported by
    the set's warning."""
    if any(a.blockiness < CLEAN_BLOCKS for a in appeals):
        for a in appeals:
            if a.blockiness >= BLOCKY and a.block_excess >= BLOCK_EXCESS and "blocky" not in a.flaws:
                a.flaws.append("blocky")


def judge(image: np.ndarray, faces: list[Box], frame: np.ndarray | None = None) -> Appeal:
    """The appeal of a cropped RGB finalist (or its grey copy: every reading is of grey) whose faces (largest first) are known (eyes are judged
    across the finalists: `judge_eyes`); `frame`: the uncropped decoded luma, for blockiness."""
    sal = saliency(image)
    flat = np.sort(sal.ravel())[::-1]
    clarity = float(flat[: max(1, flat.size // 10)].sum())
    subject = subject_box(sal, image.shape)
    ratio, excess = block_steps(frame if frame is not None else image)
    a = Appeal(subject_clarity=clarity, subject=subject, blockiness=ratio, block_excess=excess)
    if faces:
        face = faces[0]
        a.eyes = open_eyes(image, face)
        a.subject_sharpness = sharpness_in(image, face)
    else:
        a.subject_sharpness = sharpness_in(image, subject)
    if a.subject_sharpness < SUBJECT_BLUR:
        a.flaws.append("subject_blurred")
    return a
