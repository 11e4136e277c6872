"""Real photographs for the features/variants tests, found inside the scikit-image wheel (data only)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def skimage_photo_path(name: str) -> Path:
    """Path of `skimage/data/<name>` in the installed scikit-image wheel (never imported)."""
    try:
        files = importlib.metadata.files("scikit-image") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-image (test extra) is not installed")
    for f in files:
        if str(f).replace("\\", "/") == f"skimage/data/{name}":
            return Path(f.locate())
    pytest.skip(f"skimage/data/{name} not in this scikit-image wheel")


def skimage_photo(name: str) -> np.ndarray:
    """The photograph as an RGB uint8 array."""
    with Image.open(skimage_photo_path(name)) as im:
        return np.asarray(im.convert("RGB"))
