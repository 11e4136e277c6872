"""imaging.features.image_features: documented ranges, stable order, determinism, and each feature
moving the right way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from imaging.analysis.faces import Box
from imaging.errors import ImagingError
from imaging.features import FEATURE_NAMES, FEATURE_RANGES, image_features
from tests.variants_helpers import skimage_photo

RANGES = FEATURE_RANGES


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "camera.png", "page.png", "grass.png"])
def test_keys_in_order_and_values_in_documented_range(name: str) -> None:
    f = image_features(skimage_photo(name))
    assert tuple(f) == FEATURE_NAMES
    for k, v in f.items():
        lo, hi = RANGES[k]
        assert isinstance(v, float) and np.isfinite(v)
        assert lo <= v <= hi, (k, v)
    hue_total = sum(f[k] for k in FEATURE_NAMES if k.startswith("hue_"))
    assert hue_total <= 1.0 + 1e-9
    assert f["edges_h"] + f["edges_v"] <= 1.0 + 1e-9


def test_deterministic(astronaut: np.ndarray) -> None:
    assert image_features(astronaut) == image_features(astronaut.copy())


def test_faces_found_on_astronaut(astronaut: np.ndarray) -> None:
    f = image_features(astronaut)
    assert f["face_count"] == 0.25  # exactly one face: Eileen Collins
    assert 0.01 < f["face_area"] < 0.1
    # her face is above the centre (head in the upper part of the photo), slightly left
    assert f["face_dy"] < -0.15
    assert -0.2 < f["face_dx"] < 0.1


def test_given_faces_are_used_and_closeup_threshold() -> None:
    img = np.full((200, 400, 3), 128, np.uint8)
    none = image_features(img, faces=[])
    assert none["face_count"] == none["face_area"] == none["closeup"] == 0.0
    big = image_features(img, faces=[Box(300, 100, 80, 80), Box(0, 0, 10, 10)])
    assert big["face_count"] == 0.5
    assert big["face_area"] == pytest.approx(80 * 80 / (200 * 400))
    assert big["closeup"] == 1.0
    assert big["face_dx"] == pytest.approx(340 / 400 - 0.5)
    assert big["face_dy"] == pytest.approx(140 / 200 - 0.5)
    small = image_features(img, faces=[Box(10, 10, 20, 20)])
    assert small["closeup"] == 0.0


def test_darker_image_is_less_bright(astronaut: np.ndarray) -> None:
    dark = (astronaut.astype(np.float32) * 0.5).astype(np.uint8)
    assert image_features(dark)["brightness"] < image_features(astronaut)["brightness"] - 0.15


def test_warm_tint_raises_warmth_cool_lowers(astronaut: np.ndarray) -> None:
    base = image_features(astronaut, faces=[])["warmth"]
    f = astronaut.astype(np.int16)
    warm = np.clip(f + np.array([30, 10, -30]), 0, 255).astype(np.uint8)
    cool = np.clip(f + np.array([-30, 0, 30]), 0, 255).astype(np.uint8)
    assert image_features(warm, faces=[])["warmth"] > base + 0.05
    assert image_features(cool, faces=[])["warmth"] < base - 0.05
    assert image_features(np.full((50, 50, 3), 90, np.uint8))["warmth"] == pytest.approx(0.5)


def test_blur_lowers_sharpness_and_clutter(astronaut: np.ndarray) -> None:
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(3)))
    a, b = image_features(astronaut, faces=[]), image_features(blurred, faces=[])
    assert b["sharpness"] < a["sharpness"] / 3
    assert b["clutter"] < a["clutter"]


def test_grey_has_no_colour_and_colour_photo_has(astronaut: np.ndarray) -> None:
    grey = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    g, c = image_features(grey, faces=[]), image_features(astronaut, faces=[])
    assert g["saturation"] == g["colourfulness"] == 0.0
    assert all(g[k] == 0.0 for k in FEATURE_NAMES if k.startswith("hue_"))
    assert c["colourfulness"] > 0.3 and c["saturation"] > 0.2


def test_hue_sectors_pick_the_colour() -> None:
    for rgb, name in [((220, 30, 30), "hue_red"), ((30, 200, 40), "hue_green"), ((30, 40, 220), "hue_blue")]:
        f = image_features(np.full((60, 80, 3), rgb, np.uint8), faces=[])
        assert max((k for k in FEATURE_NAMES if k.startswith("hue_")), key=f.get) == name


def test_text_raises_text_area() -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(60, 120, (360, 640, 3), dtype=np.uint8), (31, 31), 0)
    img = Image.fromarray(base)
    ImageDraw.Draw(img).text((40, 140), "The Long Night", fill=(250, 250, 250), font=ImageFont.load_default(size=64))
    plain, text = image_features(base, faces=[]), image_features(np.asarray(img), faces=[])
    assert plain["text_area"] < 0.01
    assert text["text_area"] > 0.05
    assert text["edges_h"] + text["edges_v"] > 0.3


def test_similar_images_are_closer_than_different_ones(astronaut: np.ndarray) -> None:
    def vec(img):
        f = image_features(img, faces=[])
        return np.array([f[k] for k in FEATURE_NAMES])

    a = vec(astronaut)
    a2 = vec(np.asarray(Image.fromarray(astronaut).resize((300, 300))))
    coffee = vec(skimage_photo("coffee.png"))
    page = vec(skimage_photo("page.png"))
    assert np.linalg.norm(a - a2) < 0.5 * min(np.linalg.norm(a - coffee), np.linalg.norm(a - page))


def test_accepts_grey_rgba_and_float() -> None:
    grey = np.full((40, 60), 100, np.uint8)
    rgba = np.dstack([np.full((40, 60, 3), 100, np.uint8), np.full((40, 60), 255, np.uint8)])
    fl = np.full((40, 60, 3), 100 / 255, np.float32)
    ref = image_features(grey, faces=[])
    assert image_features(rgba, faces=[]) == ref
    assert image_features(fl, faces=[])["brightness"] == pytest.approx(ref["brightness"], abs=0.01)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10, 0, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros(5, np.uint8),
    ],
)
def test_bad_arrays_raise_imaging_error(bad: np.ndarray) -> None:
    with pytest.raises(ImagingError):
        image_features(bad)


def test_same_values_in_a_fresh_process(astronaut: np.ndarray, tmp_path) -> None:
    """Stable across runs: a new interpreter (fresh OpenCV state, cascade reload) gives identical floats."""
    import json
    import subprocess
    import sys

    np.save(tmp_path / "img.npy", astronaut)
    code = (
        "import json, sys, numpy as np; from imaging.features import image_features; "
        f"print(json.dumps(image_features(np.load({str(tmp_path / 'img.npy')!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == image_features(astronaut)
