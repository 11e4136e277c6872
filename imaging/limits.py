"""Picture sizes imaging refuses up front: degenerate frames that would cost memory and time, then fail.

A 1920x2 video or a 5000x2 image holds no picture worth a thumbnail, and the analysis (proxies,
Haar, saliency, crops) either wastes seconds and a gigabyte before finding "no usable frames" or
trips an OpenCV assertion. They are refused from the header, before anything is decoded.
"""

from __future__ import annotations

from imaging.errors import ImagingError

MIN_SIDE = 16  # px: smaller than the frame signature (32x18) and any face worth detecting
MAX_ASPECT = 12.0  # longer side / shorter side; wide panoramas reach ~6-8:1, 360 photos 2:1


def check_picture_size(width: int, height: int, what: str) -> None:
    """Raise ImagingError (one line, naming `what`) if a width x height picture is degenerate."""
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImagingError(f"{what}: {width}x{height} is too small to use (each side must be at least {MIN_SIDE} px)")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT:
        raise ImagingError(
            f"{what}: {width}x{height} is a degenerate shape ({ratio:.0f}:1; at most {MAX_ASPECT:g}:1 is accepted)"
        )
