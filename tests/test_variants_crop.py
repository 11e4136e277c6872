"""Smart crop and title placement on real photographs: faces whole, exact ratios, titles off faces."""
from __future__ import annotations

import numpy as np
import pytest

from imaging.artwork.crop import Aspect, crop_size, output_size, parse_aspect, smart_crop
from imaging.errors import ImagingError
from imaging.analysis.faces import Box, detect_faces
from imaging.artwork.title import place_title, render_title
from imaging.artwork.treatments import TREATMENTS, apply_treatment
from tests.variants_helpers import skimage_photo

ASPECTS = ["16:9", "2:3", "1:1", "4:5", "9:16", "1.85:1", "3:1", "21:9"]


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, list[Box]]:
    img = skimage_photo("astronaut.png")
    faces = detect_faces(img)
    assert len(faces) == 1  # Haar finds Eileen Collins' face; everything below relies on it
    return img, faces


def inside(crop, f: Box) -> bool:
    x0, y0, x1, y1 = crop
    return x0 <= f.x and y0 <= f.y and f.x + f.w <= x1 and f.y + f.h <= y1


@pytest.mark.parametrize("aspect", ASPECTS)
def test_face_whole_and_exact_ratio_on_astronaut(astronaut, aspect: str) -> None:
    img, faces = astronaut
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


@pytest.mark.parametrize("aspect", ["16:9", "2:3", "1:1", "4:5"])
def test_title_inside_image_not_over_face_and_only_drawn_in_its_box(astronaut, aspect: str) -> None:
    img, faces = astronaut
    x0, y0, x1, y1 = smart_crop(img, parse_aspect(aspect), faces)
    crop = np.ascontiguousarray(img[y0:y1, x0:x1])
    cfaces = [Box(f.x - x0, f.y - y0, f.w, f.h) for f in faces]
    out, lay = render_title(crop, "The Long Night", cfaces)
    bx0, by0, bx1, by1 = lay.box
    H, W = crop.shape[:2]
    assert 0 <= bx0 < bx1 <= W and 0 <= by0 < by1 <= H
    for f in cfaces:
        assert bx1 <= f.x or bx0 >= f.x + f.w or by1 <= f.y or by0 >= f.y + f.h
    changed = np.any(out != crop, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 100  # something was drawn ...
    assert xs.min() >= bx0 and xs.max() < bx1 and ys.min() >= by0 and ys.max() < by1  # ... only in its box


def test_title_on_white_gets_a_dark_scrim() -> None:
    white = np.full((360, 640, 3), 250, np.uint8)
    out, lay = render_title(white, "Daylight", [])
    x0, y0, x1, y1 = lay.box
    assert out[y0:y1, x0:x1].mean() < 200  # scrim + stroke make white text readable on white


def test_title_over_a_bright_patch_gets_a_scrim() -> None:
    dark = np.full((360, 640, 3), 20, np.uint8)
    dark[:, 400:560] = 255  # a bright object under part of any centred title; mean luma stays low
    out, lay = render_title(dark, "The Long Night", [])
    x0, y0, x1, y1 = lay.box
    assert (dark[y0:y1, x0:x1] >= 250).any()
    r = lay.size // 4 + 1  # the scrim's rounded corners
    assert not (out[y0 + r:y1 - r, x0 + r:x1 - r] >= 250).any()  # scrim over the white; the text is 248


def test_title_that_cannot_fit() -> None:
    with pytest.raises(ImagingError, match="cannot fit"):
        place_title(np.zeros((120, 120, 3), np.uint8), "Supercalifragilisticexpialidocious " * 3)
    with pytest.raises(ImagingError, match="cannot fit"):  # a face covering the whole frame
        place_title(np.zeros((300, 300, 3), np.uint8), "Hi", [Box(0, 0, 300, 300)])


def test_treatments_are_deterministic_and_move_warmth(astronaut) -> None:
    img, _ = astronaut
    r_minus_b = {t: float(apply_treatment(img, t)[..., 0].mean() - apply_treatment(img, t)[..., 2].mean())
                 for t in TREATMENTS}
    assert r_minus_b["warm"] > r_minus_b["none"] > r_minus_b["cool"]
    assert apply_treatment(img, "high-contrast").std() > img.std() > apply_treatment(img, "muted").std()
    assert np.array_equal(apply_treatment(img, "muted"), apply_treatment(img.copy(), "muted"))
    assert np.array_equal(apply_treatment(img, "none"), img)
    with pytest.raises(ImagingError, match="unknown treatment"):
        apply_treatment(img, "sepia")
