"""Colour treatments: small, deterministic per-pixel transforms (lookup tables on uint8 RGB).

| name | transform |
|---|---|
| none | unchanged |
| warm | R x1.12, G x1.03, B x0.84 (golden-hour tint) |
| cool | R x0.86, G x1.00, B x1.12 (blue night tint) |
| high-contrast | contrast stretch: each channel (x - 128) x 1.35 + 128, clipped |
| muted | 60% towards grey (Rec.601 luma), then contrast x0.85 around 128 |

Each is a visible change, not a variant in name only: mean CIELAB colour difference (CIE76 deltaE)
against `none` of at least 5 on every real test picture (astronaut, coffee, bikes.mp4 frames; a
just-noticeable difference is ~2.3); tests/imaging/artwork/test_treatments.py measures it.

Lookup tables make every treatment exact integer arithmetic: identical output on every platform.
"""

from __future__ import annotations

import cv2
import numpy as np

from imaging.choices import TREATMENTS
from imaging.errors import ImagingError

_X = np.arange(256, dtype=np.float64)


def _lut(gain: float = 1.0, contrast: float = 1.0) -> np.ndarray:
    return np.clip(np.round((_X * gain - 128.0) * contrast + 128.0), 0, 255).astype(np.uint8)


_CHANNEL_LUTS = {
    "warm": (_lut(1.12), _lut(1.03), _lut(0.84)),
    "cool": (_lut(0.86), _lut(1.00), _lut(1.12)),
    "high-contrast": (_lut(contrast=1.35),) * 3,
}


def check_treatment(name: str) -> str:
    """The treatment name, or ImagingError naming the valid ones."""
    if name not in TREATMENTS:
        raise ImagingError(f"unknown treatment {name!r}; choose from {', '.join(TREATMENTS)}")
    return name


def apply_treatment(rgb: np.ndarray, name: str) -> np.ndarray:
    """A treated copy of an RGB uint8 image (the input is never modified)."""
    check_treatment(name)
    if name == "none":
        return rgb.copy()
    if name == "muted":
        luma = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.int32)
        mixed = (rgb.astype(np.int32) * 40 + luma * 60 + 50) // 100
        return cv2.LUT(mixed.astype(np.uint8), _lut(contrast=0.85))
    luts = _CHANNEL_LUTS[name]
    return np.dstack([cv2.LUT(np.ascontiguousarray(rgb[:, :, i]), luts[i]) for i in range(3)])
