"""imaging.artwork.crop: exact aspect ratios that keep faces whole, else the salient mass, with the
subject on a third."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging.analysis.faces import Box, detect_faces
from imaging.analysis.saliency import spectral_residual_saliency
from imaging.artwork.crop import Aspect, crop_size, output_size, parse_aspect, smart_crop
from imaging.errors import ImagingError
from tests.extract_helpers import SHOT_FRAMES
from tests.variants_helpers import skimage_photo

ASPECTS = ["16:9", "2:3", "1:1", "4:5", "9:16", "1.85:1", "3:1", "21:9"]


def inside(crop, f: Box) -> bool:
    x0, y0, x1, y1 = crop
    return x0 <= f.x and y0 <= f.y and f.x + f.w <= x1 and f.y + f.h <= y1


@pytest.mark.parametrize("aspect", ["2:3", "4:5", "1:1"])
def test_crops_keep_the_salient_mass(bikes_frames, aspect) -> None:
    """Share of the frame's saliency mass a portrait crop keeps: at least 89% of what the best window
    of that size could keep, and more than its share of the area (it follows the subject)."""
    from imaging.analysis.saliency import spectral_residual_saliency
    from imaging.artwork.crop import parse_aspect, smart_crop

    for i in SHOT_FRAMES:
        rgb = bikes_frames[i]
        sal = spectral_residual_saliency(rgb)
        h, w = rgb.shape[:2]
        cols = sal.sum(axis=0).astype(np.float64)
        prof = np.interp((np.arange(w) + 0.5) * len(cols) / w - 0.5, np.arange(len(cols)), cols)
        cum = np.concatenate([[0.0], np.cumsum(prof / prof.sum())])
        x0, _, x1, _ = smart_crop(rgb, parse_aspect(aspect), [], sal)
        kept = cum[x1] - cum[x0]
        best = max(cum[s + x1 - x0] - cum[s] for s in range(w - (x1 - x0) + 1))
        assert kept >= 0.89 * best and kept > 1.05 * (x1 - x0) / w, (i, aspect, kept, best)


def test_only_the_face_detector_keeps_the_face_in_the_crop() -> None:
    """A wide picture: the astronaut's face at the left, a busy, high-contrast pattern at the right.
    Saliency alone would crop the pattern; the detected face must make the crop keep the face."""
    astro = skimage_photo("astronaut.png")
    face_part = cv2.resize(astro[20:280, 110:370], (300, 300), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(3)
    busy = (rng.random((30, 60)) > 0.5).astype(np.uint8) * 255
    busy = cv2.resize(busy, (600, 300), interpolation=cv2.INTER_NEAREST)
    canvas = np.full((300, 900, 3), 90, np.uint8)
    canvas[:, :300] = face_part
    canvas[:, 300:] = busy[..., None]
    faces = detect_faces(canvas)
    assert faces and faces[0].x + faces[0].w <= 300
    face = faces[0]
    aspect = parse_aspect("2:3")
    sal = spectral_residual_saliency(canvas)
    with_faces = smart_crop(canvas, aspect, faces, sal)
    without = smart_crop(canvas, aspect, [], sal)
    assert with_faces[0] <= face.x and with_faces[2] >= face.x + face.w  # the face, whole
    assert without[0] >= face.x + face.w // 2  # saliency alone goes for the pattern: the test can fail


@pytest.mark.parametrize("aspect", ASPECTS)
def test_face_whole_and_exact_ratio_on_astronaut(astronaut_with_face, aspect: str) -> None:
    img, faces = astronaut_with_face
    a = parse_aspect(aspect)
    crop = smart_crop(img, a, faces)
    x0, y0, x1, y1 = crop
    assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]
    assert (x1 - x0) * a.h == (y1 - y0) * a.w
    assert inside(crop, faces[0])
    # the largest window of that ratio: one side uses (nearly) the whole image
    assert img.shape[1] - (x1 - x0) < a.w or img.shape[0] - (y1 - y0) < a.h


@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg"])
@pytest.mark.parametrize("aspect", ["16:9", "2:3", "4:5", "1.85:1"])
def test_exact_ratio_without_faces(name: str, aspect: str) -> None:
    img = skimage_photo(name)
    a = parse_aspect(aspect)
    x0, y0, x1, y1 = smart_crop(img, a, [])
    assert (x1 - x0) * a.h == (y1 - y0) * a.w
    w, h, limited = output_size(x1 - x0, a, 500, 1.5)
    assert w * a.h == h * a.w
    assert w <= 1.5 * (x1 - x0)
    assert abs(w - min(500, 1.5 * (x1 - x0))) < a.w
    assert limited == (500 > 1.5 * (x1 - x0))


def test_all_faces_kept_when_they_fit_else_largest() -> None:
    img = np.full((300, 1000, 3), 120, np.uint8)
    small, big = Box(100, 100, 40, 40), Box(300, 90, 70, 70)
    crop = smart_crop(img, Aspect(1, 1, "1:1"), [big, small])  # window 300 wide: both fit (100..370)
    assert inside(crop, big) and inside(crop, small)
    far = Box(900, 100, 40, 40)
    crop = smart_crop(img, Aspect(1, 1, "1:1"), [big, far])  # 300..940 cannot fit: keep the largest
    assert inside(crop, big)
    # and the other face is not cut in half: it is either fully out or fully in
    x0, _, x1, _ = crop
    assert x1 <= far.x or x0 >= far.x + far.w


def test_face_larger_than_window_is_centred() -> None:
    img = np.full((400, 1000, 3), 120, np.uint8)
    face = Box(350, 0, 400, 400)
    x0, y0, x1, y1 = smart_crop(img, Aspect(1, 2, "1:2"), [face])
    assert abs((x0 + x1) / 2 - (face.x + face.w / 2)) <= 1


def test_subject_on_a_thirds_line() -> None:
    img = np.full((300, 1200, 3), 120, np.uint8)
    face = Box(580, 130, 40, 40)  # centred horizontally
    x0, _, x1, _ = smart_crop(img, Aspect(1, 1, "1:1"), [face])
    rel = (face.x + face.w / 2 - x0) / (x1 - x0)
    assert min(abs(rel - 1 / 3), abs(rel - 2 / 3)) < 0.01


def test_salient_object_kept_without_faces() -> None:
    rng = np.random.default_rng(0)
    img = np.full((300, 1200, 3), 100, np.uint8)
    img[100:200, 950:1050] = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)  # one busy object, far right
    x0, _, x1, _ = smart_crop(img, Aspect(1, 1, "1:1"), [])
    assert x0 <= 950 and x1 >= 1050


@pytest.mark.parametrize("bad", ["0:1", "1:0", "abc", "16:9:2", "", "-4:3", "nan:1", "100:1"])
def test_bad_aspects(bad: str) -> None:
    with pytest.raises(ImagingError):
        parse_aspect(bad)


def test_aspect_forms_and_tiny_image() -> None:
    assert parse_aspect("1920x1080")[:2] == (16, 9)
    assert parse_aspect("1.85:1")[:2] == (37, 20)
    with pytest.raises(ImagingError, match="too small"):
        crop_size(10, 5, parse_aspect("16:9"))


def test_output_size_never_exceeds_upscale_limit() -> None:
    a = parse_aspect("16:9")
    w, h, limited = output_size(320, a, 1280, 1.5)
    assert limited and w <= 480 and w * 9 == h * 16
    assert output_size(1280, a, 640, 1.5) == (640, 360, False)
