"""imaging.analysis.saliency: the map of a whole picture, and the part of it a crop sees."""

from __future__ import annotations

import numpy as np

from imaging.analysis.saliency import crop_saliency, spectral_residual_saliency


def test_a_crop_of_the_map_finds_what_stands_out_in_the_whole_picture() -> None:
    rng = np.random.default_rng(26)
    img = (96 + 8 * rng.standard_normal((270, 480, 3))).clip(0, 255).astype(np.uint8)
    img[40:70, 300:330] = 250  # one small bright object on a flat grey field
    sal = spectral_residual_saliency(img)
    part = crop_saliency(sal, (240, 0, 420, 270), (480, 270))  # a 2:3 window around it
    assert abs(float(part.sum()) - 1.0) < 1e-5 and part.dtype == np.float32
    ph, pw = part.shape
    assert abs(ph / pw - 270 / 180) < 0.1  # the window's shape, at the map's (upsampled) resolution
    y, x = np.unravel_index(int(np.argmax(part)), part.shape)
    # the peak is the object: x 300-330 -> 60-90 of the window's 180, y 40-70 of 270
    assert 0.25 < x / pw < 0.6 and 0.1 < y / ph < 0.3, (x / pw, y / ph)
    # the top third of the window (where the object is) holds well over its share of the mass
    assert float(part[: ph // 3].sum()) > 0.5


def test_a_crop_of_a_flat_map_is_uniform() -> None:
    flat = np.zeros((36, 64), np.float32)
    part = crop_saliency(flat, (10, 10, 20, 20), (640, 360))
    assert part.size >= 1 and np.allclose(part, 1.0 / part.size)
