"""imaging.analysis.bars: letterbox/pillarbox bars are found and cropped, and never cut a face or a
dark picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imaging.analysis.bars import detect_bars, keep_faces
from imaging.candidates.extract import extract_candidates
from imaging.shots.boundaries import fade_ramps
from tests.extract_helpers import W, clip_rgb, run, write_video


def test_letterbox_is_detected_and_cropped(boxed) -> None:
    path, truth = boxed
    result = run(path, "default")
    x0, y0, x1, y1 = result.crop
    top, bottom = truth.bars
    assert (x0, x1) == (0, W)
    assert top <= y0 <= top + 4 and 272 - bottom - 4 <= y1 <= 272 - bottom
    for c in result.candidates:
        assert c.image.shape[:2] == (y1 - y0, x1 - x0)
        assert c.image[:2].mean() > 25 and c.image[-2:].mean() > 25  # no black rows left


def test_no_crop_without_bars(plain) -> None:
    path, _ = plain
    assert run(path, "default").crop == (0, 0, W, 272)


def test_detect_bars_and_fade_ramps() -> None:
    img = np.zeros((100, 200), np.uint8)
    img[12:88, 20:180] = 120
    c = detect_bars(img)
    assert 0.1 <= c.x0 <= 0.11 and 0.12 <= c.y0 <= 0.13 and 0.89 <= c.x1 <= 0.9 and 0.87 <= c.y1 <= 0.88
    assert detect_bars(np.zeros((100, 200), np.uint8)).is_full  # a dark video is not all bars
    ramp = [0.1, 0.2, 0.3, 0.4, 0.5] + [0.5] * 10 + [0.4, 0.3, 0.2, 0.1]
    assert fade_ramps(ramp, True, True) == (4, 4)
    assert fade_ramps(ramp, False, False) == (0, 0)
    assert fade_ramps([0.5] * 12, True, True) == (0, 0)


def test_a_dark_close_up_keeps_its_dark_picture(tmp_path: Path) -> None:
    """The lower third of a close-up in deep shadow (luma up to ~36, real texture) is picture, not a
    letterbox bar: nothing is cropped (it lost that band before), and the face stays whole."""
    f = clip_rgb("carphone_pristine.mp4", range(50), scale=2.0)
    frames = []
    for i in range(50):
        rgb = f[i].astype(np.float32)
        rgb[190:] *= 0.16
        frames.append(np.clip(rgb, 0, 255).astype(np.uint8))
    assert frames[10][190:].max() >= 30
    result = extract_candidates(write_video(tmp_path / "dark.mp4", frames), k=2, mode="thorough")
    for c in result.candidates:  # (carphone's own 1 px black left column, doubled, is a bar)
        x0, y0, x1, y1 = c.crop
        assert (y0, y1) == (0, 288) and x0 <= 4 and x1 == 352, c.crop


def test_bars_never_cut_a_face() -> None:
    assert keep_faces((0, 40, 640, 320), [(100, 20, 60, 60)], (360, 640)) == (0, 20, 640, 320)
    assert keep_faces((0, 40, 640, 320), [(100, 300, 60, 50)], (360, 640)) == (0, 40, 640, 350)
    assert keep_faces((0, 40, 640, 320), [(100, 100, 60, 60)], (360, 640)) == (0, 40, 640, 320)


def test_lit_shares_are_numpys_means_bit_for_bit() -> None:
    """The OpenCV count behind detect_bars gives `(img > level).mean(axis)` exactly, on a strided
    view of a plane (as the decoder hands luma over) and at the edges of the level range."""
    from imaging.analysis.bars import _lit_shares

    rng = np.random.default_rng(5)
    plane = rng.integers(0, 256, (270, 512), dtype=np.uint8)
    plane[:, :40] = rng.integers(0, 40, (270, 40), dtype=np.uint8)  # a dark edge: shares near the limit
    view = plane[:, :480]
    for img in (plane, view, plane[3:200, 7:300]):
        for level in (32, 0, 254, 255, -1, 31.5):
            lit = img > level
            rows, cols = _lit_shares(img, level)
            assert rows.dtype == np.float64 and np.array_equal(rows, lit.mean(axis=1))
            assert np.array_equal(cols, lit.mean(axis=0))
