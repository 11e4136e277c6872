"""imaging.artwork.title: title plates inside the image, off faces, legible, and of bounded size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging.analysis.faces import Box
from imaging.artwork.crop import parse_aspect, smart_crop
from imaging.artwork.title import MAX_AREA, place_title, render_title
from imaging.errors import ImagingError
from tests.extract_helpers import SHOT_FRAMES


@pytest.mark.parametrize("shape", [(405, 270), (270, 480), (400, 400), (400, 320)])
def test_title_plate_is_bounded_and_keeps_off_the_middle_when_it_can(bikes_frames, shape) -> None:
    h, w = shape
    for i in SHOT_FRAMES:
        rgb = cv2.resize(bikes_frames[i], (w, h), interpolation=cv2.INTER_AREA)
        lay = place_title(rgb, "Bikes at Night")
        x0, y0, x1, y1 = lay.box
        assert (x1 - x0) * (y1 - y0) <= MAX_AREA * w * h
        centre = (y0 + y1) / 2
        assert centre < 0.3 * h or centre > 0.7 * h, (i, shape, lay.box)


@pytest.mark.parametrize("aspect", ["16:9", "2:3", "1:1", "4:5"])
def test_title_inside_image_not_over_face_and_only_drawn_in_its_box(astronaut_with_face, aspect: str) -> None:
    img, faces = astronaut_with_face
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
    assert not (out[y0 + r : y1 - r, x0 + r : x1 - r] >= 250).any()  # scrim over the white; the text is 248


def test_title_that_cannot_fit() -> None:
    with pytest.raises(ImagingError, match="cannot fit"):
        place_title(np.zeros((120, 120, 3), np.uint8), "Supercalifragilisticexpialidocious " * 3)
    with pytest.raises(ImagingError, match="cannot fit"):  # a face covering the whole frame
        place_title(np.zeros((300, 300, 3), np.uint8), "Hi", [Box(0, 0, 300, 300)])
