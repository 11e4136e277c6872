"""Spectral residual saliency (Hou & Zhang 2007): where a picture's eye-catching content is.

One map, several readers: smart crops keep the salient mass (imaging.artwork.crop), title plates
avoid hiding it (imaging.artwork.title), and an editor's reading locates the subject in a finalist
(imaging.analysis.appeal). Computed with numpy's FFT on a small copy, so it costs ~1 ms.
"""

from __future__ import annotations

import cv2
import numpy as np

SALIENCY_WIDTH = 64


def spectral_residual_saliency(rgb: np.ndarray, width: int = SALIENCY_WIDTH) -> np.ndarray:
    """Saliency map (float32, sums to 1) at `width` px wide: what stands out from the image's
    average log-spectrum (Hou & Zhang 2007), smoothed."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    h, w = gray.shape
    sw = min(width, w)
    sh = max(1, round(h * sw / w))
    small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
    spec = np.fft.fft2(small)
    log_amp = np.log(np.abs(spec) + 1e-9)
    phase = np.angle(spec)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    sal = cv2.GaussianBlur(sal, (0, 0), sigmaX=max(1.0, sw / 32.0))
    total = float(sal.sum())
    if not np.isfinite(total) or total <= 0:
        sal = np.ones_like(sal)
        total = float(sal.size)
    return (sal / total).astype(np.float32)


def crop_saliency(saliency: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The part of `saliency` (a map of a whole `size` = (W, H) image) under `box` = (x0, y0, x1, y1)
    in that image's pixels, renormalised to sum 1.

    Why: what stands out is a property of the whole picture; the same map, read inside a crop, still
    finds the subject a crop alone (zoomed in, everything at a larger scale) would lose."""
    W, H = size
    sh, sw = saliency.shape
    up = max(1, -(-256 // sw))  # upsample the small map so a narrow crop keeps a few columns
    fine = cv2.resize(saliency, (sw * up, sh * up), interpolation=cv2.INTER_LINEAR) if up > 1 else saliency
    fh, fw = fine.shape
    x0, y0, x1, y1 = box
    cx0, cx1 = min(fw - 1, int(x0 * fw / W)), max(int(x0 * fw / W) + 1, min(fw, round(x1 * fw / W)))
    cy0, cy1 = min(fh - 1, int(y0 * fh / H)), max(int(y0 * fh / H) + 1, min(fh, round(y1 * fh / H)))
    part = np.ascontiguousarray(fine[cy0:cy1, cx0:cx1], dtype=np.float32)
    total = float(part.sum())
    if not np.isfinite(total) or total <= 0:
        return np.full(part.shape, 1.0 / part.size, np.float32)
    return part / total
