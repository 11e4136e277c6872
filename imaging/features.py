"""Image features a linear bandit can learn from: one flat dict of named floats per image.

The bandit generalises across artwork only through these numbers, so each one is on a comparable
scale (roughly 0..1), cheap (a 1080p frame costs well under 50 ms, face detection included) and
deterministic (same pixels -> same floats; only OpenCV/numpy ops with fixed parameters).

Everything except face detection is computed on a copy downscaled to `WORK_WIDTH` (320 px) wide;
faces come from `imaging.analysis.faces.detect_faces` (two-pass Haar) on a 640 px copy unless the caller
passes them in (boxes in the input image's pixels).

| name | range | meaning |
|---|---|---|
| brightness | 0..1 | mean luma (Rec.601) / 255 |
| contrast | 0..1 | luma standard deviation / 127.5 (RMS contrast) |
| saturation | 0..1 | mean HSV saturation / 255 |
| colourfulness | 0..1 | Hasler-Suesstrunk M / 150, clipped (M ~ 15 dull, ~ 60 colourful, >110 extreme) |
| warmth | 0..1 | 0.5 + (mean R - mean B) / 510: 0.5 neutral, higher = warmer (red/orange), lower = cooler |
| sharpness | 0..1 | variance of the Laplacian of the 320 px luma, normalised by the luma variance, squashed v/(v+0.25) |
| face_count | 0..1 | min(faces, 4) / 4 |
| face_area | 0..1 | largest face box area / image area |
| face_dx | -0.5..0.5 | largest face centre minus image centre, as a share of the width (0 without faces) |
| face_dy | -0.5..0.5 | same vertically (positive = below centre; 0 without faces) |
| closeup | 0 or 1 | 1 when face_area >= `CLOSEUP_AREA` (0.04: a face about a third of a 16:9 frame's height) |
| text_area | 0..1 | share of the image covered by text-like blobs (morphological gradient, Otsu, horizontal closing, boxes wider than tall with dense strokes) |
| clutter | 0..1 | Canny edge-pixel share x 4, clipped (edge density: 0 flat, 1 very busy) |
| hue_red .. hue_magenta | 0..1 each, sum <= 1 | six 60-degree hue sectors, each the mean over all pixels of saturation x value in that sector |
| edges_h, edges_v | 0..1 each, sum <= 1 | share of gradient energy in mostly-horizontal / mostly-vertical edges (texture orientation) |

The six hue sectors and the two edge-orientation shares are the short colour/texture descriptor:
images with similar palettes and structure land near each other in Euclidean distance.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from imaging.analysis.faces import Box, detect_faces
from imaging.errors import ImagingError

WORK_WIDTH = 320
FACE_WIDTH = 640
CLOSEUP_AREA = 0.04
# Normalised Laplacian variance at which sharpness = 0.5: a typical in-focus photo at 320 px
# scores ~0.4-0.6, a Gaussian blur of sigma 3 drops it below 0.05, fine texture (grass) tends to 1.
SHARPNESS_HALF = 0.25
_HUES = ("red", "yellow", "green", "cyan", "blue", "magenta")

FEATURE_NAMES: tuple[str, ...] = (
    "brightness",
    "contrast",
    "saturation",
    "colourfulness",
    "warmth",
    "sharpness",
    "face_count",
    "face_area",
    "face_dx",
    "face_dy",
    "closeup",
    "text_area",
    "clutter",
    *(f"hue_{h}" for h in _HUES),
    "edges_h",
    "edges_v",
)

# Documented range of every feature (see the table above), for consumers that scale or check them.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    name: ((-0.5, 0.5) if name in ("face_dx", "face_dy") else (0.0, 1.0)) for name in FEATURE_NAMES
}


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an image array and return it as contiguous (H, W, 3) uint8 RGB."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImagingError(f"expected an RGB image array of shape (H, W, 3), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImagingError(f"image has zero size ({arr.shape[1]}x{arr.shape[0]})")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _resize_to_width(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= width:
        return rgb
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def image_features(
    rgb: np.ndarray, faces: Sequence[Box] | None = None, *, face_width: int = FACE_WIDTH
) -> dict[str, float]:
    """Named features of an RGB uint8 image, in `FEATURE_NAMES` order (see the module table).

    `faces`: boxes in `rgb`'s pixels if the caller already detected them (extract/variants do),
    else None to detect them here on a copy `face_width` px wide. Face detection is still most of
    the cost (see bench/features.py); 320 px is ~2-3x cheaper again but misses faces smaller
    than ~13% of a 16:9 frame's height (the cascade's 24 px window on a 180 px tall copy).
    """
    rgb = as_rgb(rgb)
    H, W = rgb.shape[:2]
    if faces is None:
        faces = detect_faces(rgb, max_width=face_width)
    # Always straight from the input, so the features do not depend on whether faces were given.
    small = _resize_to_width(rgb, WORK_WIDTH)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # H in 0..179 (2 degrees per unit)
    out: dict[str, float] = {}
    out.update(_tone_colour(small, gray, hsv))
    out["sharpness"] = _sharpness(gray)
    out.update(_face_features(faces, W, H))
    out["text_area"] = _text_area(gray)
    out["clutter"] = _clutter(gray)
    out.update(_hue_sectors(hsv))
    out.update(_edge_orientation(gray))
    return {k: float(out[k]) for k in FEATURE_NAMES}


def _tone_colour(small: np.ndarray, gray: np.ndarray, hsv: np.ndarray) -> dict[str, float]:
    mean_luma, std_luma = cv2.meanStdDev(gray)
    f = small.astype(np.float32)
    r, g, b = f[:, :, 0], f[:, :, 1], f[:, :, 2]
    rg_mean, rg_std = cv2.meanStdDev(r - g)
    yb_mean, yb_std = cv2.meanStdDev(0.5 * (r + g) - b)
    m = float(np.hypot(rg_std[0, 0], yb_std[0, 0]) + 0.3 * np.hypot(rg_mean[0, 0], yb_mean[0, 0]))
    rgb_mean = cv2.mean(small)
    return {
        "brightness": float(mean_luma[0, 0] / 255.0),
        "contrast": float(min(1.0, std_luma[0, 0] / 127.5)),
        "saturation": float(cv2.mean(hsv[:, :, 1])[0] / 255.0),
        "colourfulness": float(min(1.0, m / 150.0)),
        "warmth": float(np.clip(0.5 + (rgb_mean[0] - rgb_mean[2]) / 510.0, 0.0, 1.0)),
    }


def _sharpness(gray: np.ndarray) -> float:
    """Laplacian variance relative to the image's own variance, so exposure/contrast cancel out."""
    g = gray.astype(np.float32)
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)
    var = float(g.var())
    if var < 1.0:  # a flat image has no detail to be sharp about
        return 0.0
    v = float(lap.var()) / var
    return v / (v + SHARPNESS_HALF)


def _face_features(faces: Sequence[Box], W: int, H: int) -> dict[str, float]:
    faces = [Box(*f) for f in faces]
    if not faces:
        return {"face_count": 0.0, "face_area": 0.0, "face_dx": 0.0, "face_dy": 0.0, "closeup": 0.0}
    big = max(faces, key=lambda b: (b.w * b.h, -b.x, -b.y))
    area = min(1.0, big.w * big.h / float(W * H))
    dx = float(np.clip((big.x + big.w / 2) / W - 0.5, -0.5, 0.5))
    dy = float(np.clip((big.y + big.h / 2) / H - 0.5, -0.5, 0.5))
    return {
        "face_count": min(len(faces), 4) / 4.0,
        "face_area": area,
        "face_dx": dx,
        "face_dy": dy,
        "closeup": 1.0 if area >= CLOSEUP_AREA else 0.0,
    }


TEXT_FILL = 0.2  # share of a text line's box covered by stroke edges (large letters ~0.25, small ~0.5)
_ELLIPSE3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_LINE = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))


def _text_area(gray: np.ndarray) -> float:
    """Share of the image in text-like blobs: the classic morphological text-region proxy.

    Strokes of letters give a strong local gradient; closing horizontally merges letters into
    words/lines; a line is wider than tall, not huge, and densely filled with stroke pixels.
    """
    h, w = gray.shape
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, _ELLIPSE3)
    otsu, _ = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, bw = cv2.threshold(grad, max(otsu, 48.0), 255, cv2.THRESH_BINARY)
    closed = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, _LINE)
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    total = 0
    for x, y, bw_, bh, _area in stats[1:]:
        if bh < 4 or bh > h * 0.25 or bw_ < 2 * bh or bw_ < 12:
            continue
        box = bw[y : y + bh, x : x + bw_]
        if cv2.countNonZero(box) >= TEXT_FILL * bw_ * bh:
            total += int(bw_) * int(bh)
    return min(1.0, total / float(h * w))


def _clutter(gray: np.ndarray) -> float:
    edges = cv2.Canny(gray, 100, 200)
    return min(1.0, 4.0 * cv2.countNonZero(edges) / float(edges.size))


def _hue_sectors(hsv: np.ndarray) -> dict[str, float]:
    hue = hsv[:, :, 0].astype(np.int32).ravel()
    weight = (hsv[:, :, 1].astype(np.float32) * hsv[:, :, 2].astype(np.float32)).ravel() / (255.0 * 255.0)
    sector = ((hue + 15) // 30) % 6  # centred on red, yellow, green, cyan, blue, magenta
    sums = np.bincount(sector, weights=weight, minlength=6) / float(hue.size)
    return {f"hue_{name}": float(sums[i]) for i, name in enumerate(_HUES)}


def _edge_orientation(gray: np.ndarray) -> dict[str, float]:
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    energy = gx * gx + gy * gy
    total = float(energy.sum())
    if total < 1e-6:
        return {"edges_h": 0.0, "edges_v": 0.0}
    ax, ay = np.abs(gx), np.abs(gy)
    # A horizontal edge has a vertical gradient: |gy| > 2|gx| (within ~27 degrees of horizontal).
    horiz = float(energy[ay > 2.0 * ax].sum()) / total
    vert = float(energy[ax > 2.0 * ay].sum()) / total
    return {"edges_h": horiz, "edges_v": vert}
