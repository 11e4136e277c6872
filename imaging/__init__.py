"""imaging: candidate thumbnails from video, artwork variants, and image features for the bandit.

The public names load lazily so that `import imaging` stays cheap (no OpenCV/PyAV until used).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "extract_candidates": "imaging.candidates.extract",
    "write_candidates": "imaging.candidates.manifest",
    "make_sample_video": "imaging.decode.sample",
    "image_features": "imaging.features",
    "FEATURE_NAMES": "imaging.features",
    "make_variants": "imaging.artwork.variants",
    "detect_faces": "imaging.analysis.faces",
    "ImagingError": "imaging.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imaging' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
