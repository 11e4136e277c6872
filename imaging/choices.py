"""The names `artbandit extract` and `artbandit variants` accept: decode modes, image
formats, treatments, default aspects.

Their one home, in a module with no imports: imaging.decode.video, imaging.candidates.manifest,
imaging.artwork.treatments and imaging.artwork.variants import them from here, and the CLI offers
them as choices without loading OpenCV, PyAV or numpy (`artbandit --help` stays fast).
"""

from __future__ import annotations

MODES: tuple[str, ...] = ("quick", "default", "thorough")
IMAGE_FORMATS: tuple[str, ...] = ("jpg", "png", "webp")
TREATMENTS: tuple[str, ...] = ("none", "warm", "cool", "high-contrast", "muted")
DEFAULT_ASPECTS: tuple[str, ...] = ("16:9", "2:3", "1:1", "4:5")
