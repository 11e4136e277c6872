"""imaging.artwork.treatments: deterministic, and every treatment a visible change."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging.artwork.treatments import TREATMENTS, apply_treatment
from imaging.errors import ImagingError
from tests.extract_helpers import SHOT_FRAMES
from tests.variants_helpers import skimage_photo


def _delta_e(a: np.ndarray, b: np.ndarray) -> float:
    lab = [cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB) for x in (a, b)]
    return float(np.linalg.norm(lab[0] - lab[1], axis=2).mean())


def test_every_treatment_is_a_visible_change(bikes_frames) -> None:
    pictures = [skimage_photo("astronaut.png"), skimage_photo("coffee.png")]
    pictures += [bikes_frames[i] for i in SHOT_FRAMES]
    for name in TREATMENTS[1:]:
        diffs = [_delta_e(apply_treatment(p, name), p) for p in pictures]
        # CIE76 mean deltaE; ~2.3 is just noticeable
        assert min(diffs) >= 4.0 and float(np.mean(diffs)) >= 6.0, (name, [round(d, 1) for d in diffs])


def test_treatments_are_deterministic_and_move_warmth(astronaut_with_face) -> None:
    img, _ = astronaut_with_face
    r_minus_b = {
        t: float(apply_treatment(img, t)[..., 0].mean() - apply_treatment(img, t)[..., 2].mean()) for t in TREATMENTS
    }
    assert r_minus_b["warm"] > r_minus_b["none"] > r_minus_b["cool"]
    assert apply_treatment(img, "high-contrast").std() > img.std() > apply_treatment(img, "muted").std()
    assert np.array_equal(apply_treatment(img, "muted"), apply_treatment(img.copy(), "muted"))
    assert np.array_equal(apply_treatment(img, "none"), img)
    with pytest.raises(ImagingError, match="unknown treatment"):
        apply_treatment(img, "sepia")
