"""imaging: candidate thumbnails from video, artwork variants, and image features for the bandit.

The public names load lazily so that `import imaging` stays cheap (no OpenCV/PyAV until used).
"""

from __future__ import annotations

from safeio.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
